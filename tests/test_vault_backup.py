"""Backups that forget: restoring an older backup never brings an erased subject back, and
expiring an epoch's key shreds that epoch's backups (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import delete

from control_helpers import database_url
from elsewhere.control.store.transactions import read, write
from elsewhere.control.vault import backups, erasure, records
from elsewhere.errors import ConfigError, ElsewhereError, InputError, NotFound
from elsewhere.vault import backup as files
from elsewhere.vault.schema import vault_purposes, vault_records, vault_subjects
from vault_support import NO_GRACE, WEEK, hits, key_material, plane, put

__all__ = ["database_url"]


def _state(cp, tenant, subject_hash):  # type: ignore[no-untyped-def]
    with read(cp.engine) as conn:
        return records.subject_meta(conn, tenant, subject_hash)


def test_an_erased_subject_stays_erased_after_restoring_an_older_backup(
    tmp_path: Path, database_url: str | None
) -> None:
    with plane(tmp_path, database_url) as (cp, tenant):
        alice = put(cp, tenant, "alice", b"alice: shoe size 38")
        bob = put(cp, tenant, "bob", b"bob: shoe size 44")
        material = key_material(cp, tenant, alice.subject_hash)
        epoch, old = backups.backup(cp.engine, cp.kek, WEEK)
        assert files.read_header(old)[0].subjects == 2
        # Nothing in the backup is in clear: no value, no data key.
        assert hits(old, {"plaintext": b"shoe size", "data key": material["data key"]}) == []
        with write(cp.engine) as conn:
            erasure.request_erasure(conn, cp.ledger, NO_GRACE, tenant, alice.subject_hash)
        # Lose bob's rows (the reason to restore), then restore the backup from before.
        with write(cp.engine) as conn:
            for table in (vault_records, vault_purposes, vault_subjects):
                conn.execute(delete(table).where(table.c.subject_hash == bob.subject_hash))
        done = backups.restore(cp.engine, cp.kek, old)
        assert (done.subjects, done.skipped_erased) == (1, 1)
        assert _state(cp, tenant, alice.subject_hash)["state"] == "erased"
        assert _state(cp, tenant, alice.subject_hash)["records"] == []
        assert len(_state(cp, tenant, bob.subject_hash)["records"]) == 1
        # Even with the tombstone gone, the ledger's erasure entry keeps it out.
        with write(cp.engine) as conn:
            conn.execute(
                delete(vault_subjects).where(vault_subjects.c.subject_hash == alice.subject_hash)
            )
        again = backups.restore(cp.engine, cp.kek, old)
        assert again.skipped_erased == 1
        with pytest.raises(NotFound):
            _state(cp, tenant, alice.subject_hash)
        # A backup taken after the erasure does not hold the subject at all.
        _, new = backups.backup(cp.engine, cp.kek, WEEK)
        assert files.read_header(new)[0].subjects == 1
        assert hits(new, {"wrapped key": material["wrapped key"]}) == []
        assert files.read_header(new)[0].epoch == epoch  # the same epoch until it expires


def test_expiring_an_epoch_shreds_its_backups(tmp_path: Path, database_url: str | None) -> None:
    with plane(tmp_path, database_url) as (cp, tenant):
        put(cp, tenant, "alice", b"alice: shoe size 38")
        short = WEEK.__class__(grace=WEEK.grace, approvals=2, epoch=dt.timedelta(hours=1))
        epoch, data = backups.backup(cp.engine, cp.kek, short)
        assert backups.expire_epochs(cp.engine, cp.ledger) == []  # not due yet
        later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
        assert backups.expire_epochs(cp.engine, cp.ledger, now=later) == [epoch]
        with pytest.raises(ConfigError, match="epoch key was destroyed"):
            backups.restore(cp.engine, cp.kek, data)
        # The next backup opens a new epoch.
        second, _ = backups.backup(cp.engine, cp.kek, short)
        assert second != epoch
        with pytest.raises(InputError, match="no such epoch"):
            backups.expire_epochs(cp.engine, cp.ledger, epoch)
        assert cp.ledger.audit() == cp.ledger.size


def test_a_damaged_backup_is_refused_in_one_line(tmp_path: Path) -> None:
    with plane(tmp_path, None) as (cp, tenant):
        put(cp, tenant, "alice", b"x")
        _, data = backups.backup(cp.engine, cp.kek, WEEK)
        flipped = bytearray(data)
        flipped[-1] ^= 1
        for bad in (b"", b"not a backup", data[: len(files.MAGIC) + 5], bytes(flipped)):
            with pytest.raises(ElsewhereError) as caught:
                backups.restore(cp.engine, cp.kek, bad)
            assert "\n" not in caught.value.message
