"""The vault's records, erasure state machine, retention and receipts, on SQLite and
PostgreSQL (services on a real store; the HTTP path is tests/test_vault_api.py)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy import select, update

from control_helpers import database_url
from elsewhere.control.store.transactions import read, write
from elsewhere.control.vault import erasure, records, retention
from elsewhere.errors import Conflict, InputError, NotFound, VerificationFailed
from elsewhere.ledger.canonical import parse_entry_bytes
from elsewhere.vault import keys, receipts
from elsewhere.vault.schema import vault_records, vault_subjects
from vault_support import NO_GRACE, WEEK, key_material, open_with, plane, put

__all__ = ["database_url"]


def _erase(cp, tenant, subject_hash, settings=NO_GRACE):  # type: ignore[no-untyped-def]
    with write(cp.engine) as conn:
        return erasure.request_erasure(conn, cp.ledger, settings, tenant, subject_hash)


def _meta(cp, tenant, subject_hash):  # type: ignore[no-untyped-def]
    with read(cp.engine) as conn:
        return records.subject_meta(conn, tenant, subject_hash)


def test_records_are_bound_to_subject_and_record(tmp_path: Path, database_url: str | None) -> None:
    with plane(tmp_path, database_url) as (cp, tenant):
        alice = put(cp, tenant, "alice", b"shoe size 38")
        other = put(cp, tenant, "alice", b"likes trains")
        bob = put(cp, tenant, "bob", b"shoe size 44")
        material = key_material(cp, tenant, alice.subject_hash)
        with read(cp.engine) as conn:
            blob = conn.execute(
                select(vault_records.c.ciphertext).where(vault_records.c.id == alice.record_id)
            ).scalar_one()
        key = material["data key"]
        assert open_with(key, tenant, alice.subject_hash, alice.record_id, blob) == b"shoe size 38"
        # The same ciphertext under another record id or another subject does not open.
        with pytest.raises(keys.KeyUnavailable):
            open_with(key, tenant, alice.subject_hash, other.record_id, blob)
        with pytest.raises(keys.KeyUnavailable):
            open_with(key, tenant, bob.subject_hash, alice.record_id, blob)
        # The subject id is never stored; its keyed hash stands in for it.
        assert alice.subject_hash != bob.subject_hash and len(alice.subject_hash) == 64
        meta = _meta(cp, tenant, alice.subject_hash)
        assert [r["size"] for r in meta["records"]] == [12, 12]
        assert "alice" not in json.dumps(meta)


def test_bad_input_is_one_clear_error(tmp_path: Path) -> None:
    with plane(tmp_path, None) as (cp, tenant):
        for subject, purposes, value in (
            ("", ["gift-matching"], b"x"),
            ("a\nb", ["gift-matching"], b"x"),
            ("alice", [], b"x"),
            ("alice", ["Gift Matching"], b"x"),
            ("alice", ["gift-matching"], b""),
            ("alice", ["gift-matching"], b"x" * (64 * 1024 + 1)),
        ):
            with pytest.raises(InputError) as caught, write(cp.engine) as conn:
                records.put_record(conn, cp.kek, tenant, subject, purposes, value)
            assert "\n" not in caught.value.message and "alice" not in caught.value.message


def test_erasure_waits_out_the_grace_period_refusing_every_use(
    tmp_path: Path, database_url: str | None
) -> None:
    with plane(tmp_path, database_url) as (cp, tenant):
        alice = put(cp, tenant, "alice", b"shoe size 38")
        answer = _erase(cp, tenant, alice.subject_hash, WEEK)
        assert answer["state"] == "pending"
        with pytest.raises(Conflict, match="erasure pending"):
            put(cp, tenant, "alice", b"more")
        with pytest.raises(Conflict, match="already pending"):
            _erase(cp, tenant, alice.subject_hash, WEEK)
        # Not due yet: the sweep leaves it; a week later it completes.
        with write(cp.engine) as conn:
            assert erasure.complete_due(conn, cp.ledger) == 0
        later = dt.datetime.now(dt.UTC) + dt.timedelta(days=8)
        with write(cp.engine) as conn:
            assert erasure.complete_due(conn, cp.ledger, later) == 1
        meta = _meta(cp, tenant, alice.subject_hash)
        assert meta["state"] == "erased" and meta["records"] == []
        with pytest.raises(Conflict, match="erased"):
            put(cp, tenant, "alice", b"again")
        assert cp.ledger.audit() == cp.ledger.size


def test_legal_hold_blocks_erasure_until_lifted(tmp_path: Path, database_url: str | None) -> None:
    with plane(tmp_path, database_url) as (cp, tenant):
        alice = put(cp, tenant, "alice", b"x")
        with write(cp.engine) as conn:
            erasure.request_erasure(conn, cp.ledger, WEEK, tenant, alice.subject_hash)
            erasure.set_hold(
                conn, cp.ledger, WEEK, tenant, alice.subject_hash, True, "court order 7"
            )
        later = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
        with write(cp.engine) as conn:
            assert erasure.complete_due(conn, cp.ledger, later) == 0
        assert _meta(cp, tenant, alice.subject_hash)["state"] == "pending"
        bob = put(cp, tenant, "bob", b"y")
        with write(cp.engine) as conn:
            erasure.set_hold(conn, cp.ledger, WEEK, tenant, bob.subject_hash, True, "court order 8")
        with pytest.raises(Conflict, match="legal hold"):
            _erase(cp, tenant, bob.subject_hash)
        with write(cp.engine) as conn:
            erasure.set_hold(
                conn, cp.ledger, WEEK, tenant, alice.subject_hash, False, "order lifted"
            )
            assert erasure.complete_due(conn, cp.ledger, later) == 1


def test_approvals_given_during_a_hold_erase_when_it_is_lifted(
    tmp_path: Path, database_url: str | None
) -> None:
    """k operators approve while a legal hold stands: nothing is erased then; lifting the hold
    erases at once (it used to wait for the grace period's end), in the lift's transaction."""
    with plane(tmp_path, database_url) as (cp, tenant):
        alice = put(cp, tenant, "alice", b"x")
        _erase(cp, tenant, alice.subject_hash, WEEK)
        with write(cp.engine) as conn:
            erasure.set_hold(conn, cp.ledger, WEEK, tenant, alice.subject_hash, True, "order 9")
        for operator in ("op1", "op2")[: WEEK.approvals]:
            with write(cp.engine) as conn:
                held = erasure.approve(conn, cp.ledger, WEEK, tenant, alice.subject_hash, operator)
            assert held["state"] == "pending" and held["hold"]
        with write(cp.engine) as conn:
            lifted = erasure.set_hold(
                conn, cp.ledger, WEEK, tenant, alice.subject_hash, False, "order lifted"
            )
        assert lifted["state"] == "erased"
        assert _meta(cp, tenant, alice.subject_hash)["state"] == "erased"
        assert cp.ledger.audit() == cp.ledger.size


def test_k_distinct_operators_skip_the_grace_period(
    tmp_path: Path, database_url: str | None
) -> None:
    with plane(tmp_path, database_url) as (cp, tenant):
        alice = put(cp, tenant, "alice", b"x")
        with pytest.raises(Conflict, match="only a pending"), write(cp.engine) as conn:
            erasure.approve(conn, cp.ledger, WEEK, tenant, alice.subject_hash, "op1")
        _erase(cp, tenant, alice.subject_hash, WEEK)
        with write(cp.engine) as conn:
            first = erasure.approve(conn, cp.ledger, WEEK, tenant, alice.subject_hash, "op1")
        assert first["state"] == "pending" and first["approvals"] == 1
        with (
            pytest.raises(Conflict, match="approved this erasure already"),
            write(cp.engine) as conn,
        ):
            erasure.approve(conn, cp.ledger, WEEK, tenant, alice.subject_hash, "op1")
        with write(cp.engine) as conn:
            second = erasure.approve(conn, cp.ledger, WEEK, tenant, alice.subject_hash, "op2")
        assert second["state"] == "erased"
        with pytest.raises(NotFound), write(cp.engine) as conn:
            erasure.approve(conn, cp.ledger, WEEK, tenant, "0" * 64, "op1")


def test_retention_rules_by_age_and_by_last_use(tmp_path: Path, database_url: str | None) -> None:
    with plane(tmp_path, database_url) as (cp, tenant):
        today = dt.date.today()
        teen = put(cp, tenant, "teen", b"t", born=today.replace(year=today.year - 14))
        child = put(cp, tenant, "child", b"c", born=today.replace(year=today.year - 8))
        held = put(cp, tenant, "held", b"h", born=today.replace(year=today.year - 20))
        idle = put(cp, tenant, "idle", b"i", "newsletter")
        with write(cp.engine) as conn:
            erasure.set_hold(conn, cp.ledger, WEEK, tenant, held.subject_hash, True, "audit")
            age = retention.add_rule(conn, cp.kek, tenant, "purpose", "gift-matching", "age:13")
            quiet = retention.add_rule(conn, cp.kek, tenant, "purpose", "newsletter", "idle:30d")
            conn.execute(
                update(vault_subjects)
                .where(vault_subjects.c.subject_hash == idle.subject_hash)
                .values(last_used_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=31))
            )
        result = retention.sweep(cp.engine, cp.ledger)
        assert result.by_rule == {age["id"]: 1, quiet["id"]: 1}
        states = {
            h: _meta(cp, tenant, h)["state"]
            for h in (teen.subject_hash, child.subject_hash, held.subject_hash, idle.subject_hash)
        }
        assert states == {
            teen.subject_hash: "erased",
            child.subject_hash: "active",
            held.subject_hash: "active",
            idle.subject_hash: "erased",
        }
        # Sweeping again changes nothing; every erasure is one PII-free ledger entry.
        assert sum(retention.sweep(cp.engine, cp.ledger).by_rule.values()) == 0
        erased = [
            parse_entry_bytes(d)
            for d in cp.ledger.entries_bytes(0, cp.ledger.size)
            if b"vault.erased" in d
        ]
        assert {e["subject"] for e in erased} == {teen.subject_hash, idle.subject_hash}
        assert not any(b"teen" in d for d in cp.ledger.entries_bytes(0, cp.ledger.size))
        with pytest.raises(InputError), write(cp.engine) as conn:
            retention.add_rule(conn, cp.kek, tenant, "purpose", "gift-matching", "forever")


def test_receipt_verifies_offline_and_names_only_its_subject(
    tmp_path: Path, database_url: str | None
) -> None:
    with plane(tmp_path, database_url) as (cp, tenant):
        alice = put(cp, tenant, "alice", b"x")
        put(cp, tenant, "bob", b"y")
        with pytest.raises(Conflict, match="only after erasure"), read(cp.engine) as conn:
            erasure.receipt(conn, cp.ledger, cp.kek, tenant, "alice")
        _erase(cp, tenant, alice.subject_hash)
        with read(cp.engine) as conn:
            data = erasure.receipt(conn, cp.ledger, cp.kek, tenant, "alice")
        assert b"alice" not in data
        verifier = cp.ledger.verifier
        proven = receipts.verify(data, verifier, "alice")
        assert proven.subject_hash == alice.subject_hash and proven.tenant == tenant
        with pytest.raises(VerificationFailed, match="does not name"):
            receipts.verify(data, verifier, "bob")
        document = json.loads(data)
        forged = document | {"note": document["note"].replace(tenant, "ten_0000000000000000")}
        with pytest.raises(VerificationFailed):
            receipts.verify(json.dumps(forged).encode(), verifier)
        for bad in (b"", b"{", b"[]", json.dumps(document | {"bundle": "!"}).encode()):
            with pytest.raises(InputError):
                receipts.verify(bad, verifier)
        assert cp.ledger.audit() == cp.ledger.size
