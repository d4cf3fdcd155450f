"""Erasure checked as an auditor would: after erasing a subject, the bytes the store keeps
(the SQLite file, its WAL and journal; PostgreSQL's relation files after the sweep's VACUUM
FULL) and every backup hold neither the subject's plaintext, nor its data key, nor its
wrapped key or record ciphertexts; no replica can decrypt; the ledger verifies."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from control_helpers import postgres_database
from elsewhere.control.config import ControlConfig, ControlPlane
from elsewhere.control.store.transactions import read, write
from elsewhere.control.vault import backups, erasure, records
from elsewhere.errors import ConfigError
from elsewhere.vault import keys
from elsewhere.vault.schema import vault_subjects
from vault_support import NO_GRACE, WEEK, hits, key_material, plane, put
from waits import wait_for

PLAINTEXT = [b"ALICE-PLAINTEXT-shoe-size-38", b"ALICE-PLAINTEXT-12-Elm-Street", b"A" * 3000]


def _fill_and_erase(cp: ControlPlane, tenant: str, tmp: Path) -> tuple[dict[str, bytes], Path]:
    """Alice's records (one large enough for PostgreSQL to TOAST it), Bob's beside them, a
    backup taken before the erasure, then Alice erased."""
    alice = None
    for value in PLAINTEXT:
        alice = put(cp, tenant, "alice", value + b"-" + tmp.name.encode())
    assert alice is not None
    put(cp, tenant, "bob", b"BOB-PLAINTEXT-shoe-size-44")
    needles = key_material(cp, tenant, alice.subject_hash)
    needles |= {f"plaintext {n}": v[:24] for n, v in enumerate(PLAINTEXT[:2])}
    needles["subject id"] = b"alice"
    before = tmp / "before.backup"
    before.write_bytes(backups.backup(cp.engine, cp.kek, WEEK)[1])
    with write(cp.engine) as conn:
        erasure.request_erasure(conn, cp.ledger, NO_GRACE, tenant, alice.subject_hash)
    return needles, before


def _no_replica_decrypts(url: str, data_dir: Path, tenant: str, subject_hash: str) -> None:
    replica = ControlPlane.open(ControlConfig.for_dir(data_dir, url), migrate=False)
    try:
        with read(replica.engine) as conn:
            row = records.subject_row(conn, tenant, subject_hash)
        with pytest.raises(keys.KeyUnavailable, match="destroyed"):
            records.unwrap(replica.kek, row, bytearray(32))
        assert replica.ledger.audit() == replica.ledger.size
    finally:
        replica.close()


def test_sqlite_file_wal_journal_and_backups_hold_nothing_of_an_erased_subject(
    tmp_path: Path,
) -> None:
    with plane(tmp_path, None) as (cp, tenant):
        needles, before = _fill_and_erase(cp, tenant, tmp_path)
        erasure.flush(cp.engine)  # what the erase endpoint and the sweep do after committing
        url = cp.config.database_url
        subject_hash = records.subject_key(cp.kek, tenant, "alice")
        with read(cp.engine) as conn:
            assert conn.execute(text("PRAGMA secure_delete")).scalar() == 1
    database = tmp_path / "cp" / "elsewhere.db"
    scanned = [p for p in database.parent.iterdir() if p.name.startswith("elsewhere.db")]
    assert database in scanned
    for path in scanned:  # the file, -wal, -shm, -journal: whatever exists
        assert hits(path.read_bytes(), needles) == [], path.name
    assert b"BOB-PLAINTEXT" not in database.read_bytes()  # values are never in clear anyway
    # The backup from before holds nothing in clear either; it still names Alice's wrapped
    # key inside its sealed payload until its epoch expires (docs/vault.md) — and a restore
    # skips her.
    assert hits(before.read_bytes(), {k: v for k, v in needles.items() if k != "subject id"}) == []
    _no_replica_decrypts(url, tmp_path / "cp", tenant, subject_hash)


def test_the_scan_finds_freed_bytes_when_zeroing_on_delete_is_off(tmp_path: Path) -> None:
    """The scanner's own check: without zeroing on delete a deleted blob stays in the file."""
    path = tmp_path / "plain.db"
    canary = b"CANARY-" + bytes(range(32))
    for zeroing, found in ((0, True), (1, False)):
        path.unlink(missing_ok=True)
        db = sqlite3.connect(path)
        db.execute(f"PRAGMA secure_delete={zeroing}")  # SQLite's name for zero-on-delete
        db.execute("CREATE TABLE t (v BLOB)")
        db.execute("INSERT INTO t VALUES (?)", (canary,))
        db.execute("INSERT INTO t VALUES (?)", (b"x" * 100,))
        db.commit()
        db.execute("DELETE FROM t WHERE v = ?", (canary,))
        db.commit()
        db.close()
        assert (canary in path.read_bytes()) is found


@pytest.mark.postgres
def test_postgresql_relation_files_hold_nothing_after_vacuum_full(tmp_path: Path) -> None:
    with postgres_database() as url, plane(tmp_path, url) as (cp, tenant):
        needles, _ = _fill_and_erase(cp, tenant, tmp_path)

        def relation_bytes() -> bytes:
            with read(cp.engine) as conn:
                conn.execute(text("CHECKPOINT"))  # dirty pages reach the files
                paths = (
                    conn.execute(
                        text(
                            "SELECT pg_relation_filepath(c.oid) FROM pg_class c "
                            "JOIN pg_namespace n ON n.oid = c.relnamespace "
                            "WHERE n.nspname IN ('public', 'pg_toast') AND c.relkind IN "
                            "('r', 't', 'i') AND pg_relation_filepath(c.oid) IS NOT NULL"
                        )
                    )
                    .scalars()
                    .all()
                )
                blobs = []
                for p in paths:
                    blobs.append(
                        conn.execute(
                            text("SELECT pg_read_binary_file(:p, 0, 1 << 26, true)"), {"p": p}
                        ).scalar()
                        or b""
                    )
            return b"".join(blobs)

        # Before VACUUM FULL the dead rows are still in the pages: the scan sees them.
        assert "wrapped key" in hits(relation_bytes(), needles)
        # What the sweep runs after erasing; a dead row a running transaction (another
        # backend's auto-analyze, say) might still see is kept until the next run.
        wait_for(lambda: erasure.flush(cp.engine, vacuum=True) == 0)
        assert hits(relation_bytes(), needles) == []
        subject_hash = records.subject_key(cp.kek, tenant, "alice")
        with read(cp.engine) as conn:
            row = records.subject_row(conn, tenant, subject_hash)
        assert row.state == "erased" and row.wrapped_key is None
        _no_replica_decrypts(url, tmp_path / "cp", tenant, subject_hash)
        assert vault_subjects.name == "vault_subjects"


def test_an_expired_epoch_leaves_no_backup_that_opens(tmp_path: Path) -> None:
    with plane(tmp_path, None) as (cp, tenant):
        _, before = _fill_and_erase(cp, tenant, tmp_path)
        epoch = before.read_bytes().split(b"\n")[1]
        assert b"epoch" in epoch
        backups.expire_epochs(
            cp.engine, cp.ledger, backups.files.read_header(before.read_bytes())[0].epoch
        )
        with pytest.raises(ConfigError, match="destroyed"):
            backups.restore(cp.engine, cp.kek, before.read_bytes())
        assert cp.ledger.audit() == cp.ledger.size


@pytest.mark.postgres
def test_vacuum_reports_rows_an_older_snapshot_still_sees(tmp_path: Path) -> None:
    import psycopg

    with postgres_database() as url, plane(tmp_path, url) as (cp, tenant):
        alice = put(cp, tenant, "alice", b"ALICE-PLAINTEXT")
        reader = psycopg.connect(url)  # a transaction that began before the erasure
        reader.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        # Its snapshot, taken on another table: VACUUM FULL need not wait for its lock.
        reader.execute("SELECT count(*) FROM cp_tenants").fetchone()
        try:
            with write(cp.engine) as conn:
                erasure.request_erasure(conn, cp.ledger, NO_GRACE, tenant, alice.subject_hash)
            assert erasure.flush(cp.engine, vacuum=True) > 0  # kept for that snapshot
        finally:
            reader.close()
        wait_for(lambda: erasure.flush(cp.engine, vacuum=True) == 0)
