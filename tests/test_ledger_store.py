"""The Ledger on SQLite and PostgreSQL: appends, proofs from stored nodes, checkpoints that
refuse inconsistent roots, appends inside a caller's transaction, key files."""

from __future__ import annotations

import datetime as dt
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, text, update

from elsewhere.errors import ConfigError, InputError
from elsewhere.ledger import entries, merkle
from elsewhere.ledger.bundle import verify_bundle
from elsewhere.ledger.canonical import canonical_bytes
from elsewhere.ledger.keyfile import create_key_file, load_key_file
from elsewhere.ledger.log import Ledger
from elsewhere.ledger.schema import ledger_entries, ledger_hashes
from elsewhere.ledger.store import LedgerCorrupt, Store
from ledger_support import database
from waits import join

ORIGIN = "example.com/elsewhere-test"


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database(request.param, tmp_path) as value:
        yield value


@pytest.fixture
def key(tmp_path: Path) -> Path:
    path = tmp_path / "keys" / "signing.key"
    create_key_file(path, ORIGIN)
    return path


@pytest.fixture
def ledger(url: str, key: Path) -> Iterator[Ledger]:
    opened = Ledger.open(url, key, ORIGIN)
    yield opened
    opened.close()


def _entries(start: int, count: int) -> list[dict[str, object]]:
    return [{"kind": "test", "n": i} for i in range(start, start + count)]


def test_append_prove_checkpoint_bundle(ledger: Ledger) -> None:
    memory = merkle.MemoryTree()
    first = ledger.checkpoint()
    assert first.size == 0 and first.root == merkle.EMPTY_ROOT
    for batch in (1, 2, 5, 13, 1, 40):
        start = ledger.size
        entries = _entries(start, batch)
        assert ledger.append_many(entries) == list(range(start, start + batch))
        for entry in entries:
            memory.append(merkle.leaf_hash(canonical_bytes(entry)))
        assert ledger.root() == memory.root()
    checkpoints = [first, ledger.checkpoint()]
    ledger.append({"kind": "late"})
    memory.append(merkle.leaf_hash(canonical_bytes({"kind": "late"})))
    checkpoints.append(ledger.checkpoint())
    assert ledger.checkpoint() == checkpoints[-1]  # same size: the stored one, not a new root
    size = ledger.size
    for index in (0, 1, 30, size - 1):
        proof = ledger.inclusion_proof(index, size)
        assert proof == merkle.prove_inclusion(index, size, memory.read)
        merkle.verify_inclusion(
            index, size, merkle.leaf_hash(ledger.entry_bytes(index)), proof, ledger.root()
        )
    for old in (1, 3, 17, size - 1):
        proof = ledger.consistency_proof(old, size)
        merkle.verify_consistency(old, size, ledger.root(old), ledger.root(size), proof)
    verified = verify_bundle(ledger.bundle(7), ledger.verifier)
    assert verified.entry == {"kind": "test", "n": 7}
    assert [c.size for c in ledger.checkpoints()] == [0, 62, 63]
    assert ledger.audit() == 63


def test_typed_records_are_appended_and_read_back(ledger: Ledger) -> None:
    record = entries.Eviction(
        at=dt.datetime(2026, 5, 1, tzinfo=dt.UTC),
        host="host-9",
        action="evict",
        reason="TCB below policy minimum",
        workloads=("w1", "w2"),
    )
    index = ledger.append(record)
    assert entries.from_entry(ledger.entry(index)) == record
    with ledger.engine.connect() as conn:
        kind = conn.execute(
            select(ledger_entries.c.kind).where(ledger_entries.c.idx == index)
        ).scalar_one()
    assert kind == "host.eviction"


def test_append_joins_the_callers_transaction(ledger: Ledger) -> None:
    ledger.append({"kind": "before"})
    with ledger.engine.connect() as conn:
        with conn.begin():
            ledger.append({"kind": "state change A"}, connection=conn)
        assert ledger.size == 2
        transaction = conn.begin()
        ledger.append({"kind": "rolled back"}, connection=conn)
        transaction.rollback()
    assert ledger.size == 2
    assert ledger.entry(1) == {"kind": "state change A"}
    ledger.append({"kind": "after"})
    assert ledger.entry(2) == {"kind": "after"}
    assert ledger.audit() == 3


def test_concurrent_appenders_get_distinct_gapless_indexes(ledger: Ledger) -> None:
    results: list[int] = []
    errors: list[BaseException] = []

    def worker(number: int) -> None:
        try:
            for i in range(10):
                results.extend(ledger.append_many(_entries(number * 100 + i * 3, 3)))
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        join(thread)  # a deadlocked appender fails the test instead of hanging the suite
    assert not errors
    assert sorted(results) == list(range(120))
    assert ledger.audit() == 120


def test_two_stores_on_one_log_interleave(ledger: Ledger, url: str) -> None:
    """Two Ledgers on one database (two server processes): each remembers the border of its
    own last append; after the other appended, that border is stale and must not be used.
    Every path runs: the one-statement move, its failure, locking first after the other
    appended (the border stale, then current again), and back to the one-statement move."""
    other = Ledger.open(url, migrate=False)
    memory = merkle.MemoryTree()
    try:
        for step, batch in enumerate((1, 3, 2, 7, 1, 1, 4, 2, 5, 1)):
            appender = other if step in (0, 3, 6) else ledger
            entries = _entries(ledger.size, batch)
            appender.append_many(entries)
            for entry in entries:
                memory.append(merkle.leaf_hash(canonical_bytes(entry)))
            assert ledger.root() == other.root() == memory.root()
    finally:
        other.close()
    assert ledger.audit() == 27


def test_checkpoint_refuses_a_rewritten_history(ledger: Ledger) -> None:
    ledger.append_many(_entries(0, 10))
    ledger.checkpoint()
    ledger.append_many(_entries(10, 5))
    # Someone with database access rewrites entry 3 and every hash above it consistently.
    forged = [canonical_bytes(e) for e in _entries(0, 15)]
    forged[3] = canonical_bytes({"kind": "test", "n": "forged"})
    nodes, _ = merkle.extend(0, [], [merkle.leaf_hash(d) for d in forged])
    with ledger.engine.begin() as conn:
        conn.execute(update(ledger_entries).where(ledger_entries.c.idx == 3).values(data=forged[3]))
        for key, value in nodes:
            conn.execute(update(ledger_hashes).where(ledger_hashes.c.id == key).values(hash=value))
        conn.execute(
            text("UPDATE ledger_state SET root = :root"),
            {"root": merkle.root_of([merkle.leaf_hash(d) for d in forged])},
        )
    with pytest.raises(LedgerCorrupt, match="refusing to sign"):
        ledger.checkpoint()


def test_audit_finds_a_changed_entry(ledger: Ledger) -> None:
    ledger.append_many(_entries(0, 9))
    with ledger.engine.begin() as conn:
        conn.execute(update(ledger_entries).where(ledger_entries.c.idx == 4).values(data=b"{}"))
    with pytest.raises(LedgerCorrupt, match="stored hash"):
        ledger.audit()


def test_open_checks_origin_and_key(url: str, key: Path, tmp_path: Path) -> None:
    Ledger.open(url, key, ORIGIN).close()
    with pytest.raises(ConfigError):
        Ledger.open(url, None, "example.com/another").close()
    other = tmp_path / "other.key"
    create_key_file(other, "example.com/another")
    with pytest.raises(ConfigError):
        Ledger.open(url, other).close()
    reader = Ledger.open(url)  # no key: can read, cannot sign
    with pytest.raises(ConfigError):
        reader.checkpoint()
    with pytest.raises(InputError):
        reader.inclusion_proof(0, 5)
    reader.close()


def test_key_file_is_owner_only_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "k" / "signing.key"
    signer = create_key_file(path, ORIGIN)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_key_file(path) == signer
    with pytest.raises(ConfigError, match="exists"):
        create_key_file(path, ORIGIN)
    assert load_key_file(path) == signer
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_key_file(path)


def test_reading_more_nodes_than_one_statement_takes(ledger: Ledger) -> None:
    """Store.read_nodes runs on the driver: on SQLite in slices of 500 (older SQLite builds
    cap one statement at 999 parameters), here across two slices; on PostgreSQL as one
    array. A node that is not stored is reported, not skipped."""
    batch = _entries(0, 700)
    ledger.append_many(batch)
    leaves = {
        merkle.NodeId(0, i): merkle.leaf_hash(canonical_bytes(e)) for i, e in enumerate(batch)
    }
    with ledger.engine.connect() as conn:
        found = Store.read_nodes(conn, set(leaves))
        assert found == leaves
        with pytest.raises(LedgerCorrupt, match="missing node hashes"):
            Store.read_nodes(conn, {merkle.NodeId(0, 700)})
