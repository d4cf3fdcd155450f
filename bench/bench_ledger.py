"""Ledger benchmark: durable appends per second (SQLite, PostgreSQL) and proof times at 10^6.

Each figure stands beside a comparison measured in this same run:
  - appends vs the raw insert rate of the same bytes into a bare table with the same
    durability settings and batch size (the physical floor of the database);
  - tree building vs raw SHA-256 leaf hashing of the same entries.
Last line: one JSON object.
"""

from __future__ import annotations

import hashlib
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import BigInteger, Column, Integer, LargeBinary, MetaData, Table, insert

from elsewhere.db import make_engine
from elsewhere.ledger import merkle
from elsewhere.ledger.canonical import canonical_bytes
from elsewhere.ledger.keyfile import create_key_file
from elsewhere.ledger.log import Ledger

PG = "postgresql://postgres@127.0.0.1:5432/test"
ORIGIN = "bench.example/ledger"
BIG = 1_000_000


def decision(n: int) -> dict[str, Any]:
    """An entry shaped like an attestation decision the control plane logs."""
    return {
        "schema": "elsewhere.ledger/1",
        "kind": "attestation.decision",
        "at": "2026-11-26T12:00:00Z",
        "evidence_digest": "sha256:" + hashlib.sha256(b"e%d" % n).hexdigest(),
        "claims_digest": "sha256:" + hashlib.sha256(b"c%d" % n).hexdigest(),
        "policy_version": 7,
        "policy_digest": "sha256:" + "ab" * 32,
        "verdict": "accepted",
        "reasons": [],
        "host": f"host-{n % 50}",
    }


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds else float("inf")


def bench_appends(ledger: Ledger, batch: int, seconds: float) -> float:
    """Entries per second, each batch one committed (durable) transaction."""
    done, n, start = 0, ledger.size, time.perf_counter()
    while time.perf_counter() - start < seconds:
        ledger.append_many([decision(n + i) for i in range(batch)])
        n += batch
        done += batch
    return rate(done, time.perf_counter() - start)


def bench_raw_inserts(url: str, batch: int, seconds: float, size: int) -> float:
    """The floor: per committed batch, the same rows the ledger writes (one entry row and
    about two 32-byte hash rows per entry) of the same sizes into bare tables; no hashing,
    no canonicalisation, no state row."""
    engine = make_engine(url)
    meta = MetaData()
    suffix = uuid.uuid4().hex[:8]
    entries = Table(f"bench_raw_entries_{suffix}", meta, _key(), Column("data", LargeBinary))
    hashes = Table(f"bench_raw_hashes_{suffix}", meta, _key(), Column("data", LargeBinary))
    meta.create_all(engine)
    payload, digest = b"x" * size, b"h" * 32
    done, key, start = 0, 0, time.perf_counter()
    try:
        while time.perf_counter() - start < seconds:
            with engine.begin() as conn:
                conn.execute(
                    insert(entries), [{"id": key + i, "data": payload} for i in range(batch)]
                )
                conn.execute(
                    insert(hashes), [{"id": 2 * key + i, "data": digest} for i in range(2 * batch)]
                )
            key += batch
            done += batch
        return rate(done, time.perf_counter() - start)
    finally:
        meta.drop_all(engine)
        engine.dispose()


def _key() -> Column[int]:
    return Column(
        "id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=False
    )


def pg_schema() -> tuple[str, str] | None:
    try:
        import psycopg

        schema = f"bench_ledger_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(PG, connect_timeout=3, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        return schema, f"{PG}?options=-csearch_path%3D{schema}"
    except Exception as error:
        print(f"PostgreSQL skipped: not reachable at {PG} ({type(error).__name__})")
        return None


def drop_pg_schema(schema: str) -> None:
    import psycopg

    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def proof_times(ledger: Ledger, size: int, count: int) -> dict[str, float]:
    rng = random.Random(7)
    root = ledger.root(size)
    inclusion, consistency, verify = [], [], []
    leaves = {}
    indexes = [rng.randrange(size) for _ in range(count)]
    for index in indexes:
        leaves[index] = merkle.leaf_hash(ledger.entry_bytes(index))
    for index in indexes:
        start = time.perf_counter()
        proof = ledger.inclusion_proof(index, size)
        inclusion.append(time.perf_counter() - start)
        start = time.perf_counter()
        merkle.verify_inclusion(index, size, leaves[index], proof, root)
        verify.append(time.perf_counter() - start)
    olds = [rng.randrange(1, size) for _ in range(count)]
    old_roots = {old: ledger.root(old) for old in olds}
    for old in olds:
        start = time.perf_counter()
        proof = ledger.consistency_proof(old, size)
        consistency.append(time.perf_counter() - start)
        merkle.verify_consistency(old, size, old_roots[old], root, proof)

    def ms(values: list[float], q: float) -> float:
        return round(statistics.quantiles(values, n=100)[int(q) - 1] * 1e3, 4)

    return {
        "inclusion_p50_ms": ms(inclusion, 50),
        "inclusion_p99_ms": ms(inclusion, 99),
        "consistency_p50_ms": ms(consistency, 50),
        "consistency_p99_ms": ms(consistency, 99),
        "verify_inclusion_p50_ms": ms(verify, 50),
    }


def main() -> int:
    results: dict[str, Any] = {}
    entry_size = len(canonical_bytes(decision(0)))
    with tempfile.TemporaryDirectory() as tmp:
        key = Path(tmp) / "signing.key"
        create_key_file(key, ORIGIN)

        # --- durable appends, SQLite (WAL, synchronous=FULL: each commit is fsynced) ---
        url = f"sqlite:///{tmp}/appends.db"
        ledger = Ledger.open(url, key, ORIGIN)
        for batch, seconds in ((1, 2.0), (100, 2.0), (1000, 3.0)):
            got = bench_appends(ledger, batch, seconds)
            floor = bench_raw_inserts(url, batch, seconds / 2, entry_size)
            results[f"sqlite_appends_per_s_batch{batch}"] = round(got)
            results[f"sqlite_raw_inserts_per_s_batch{batch}"] = round(floor)
            results[f"sqlite_ratio_batch{batch}"] = round(got / floor, 3)
            print(
                f"SQLite  batch {batch:5d}: {got:10.0f} appends/s  raw floor {floor:10.0f}/s"
                f"  ratio {got / floor:.2f}"
            )
        ledger.checkpoint()
        ledger.close()

        # --- durable appends, PostgreSQL ---
        made = pg_schema()
        if made:
            schema, pg_url = made
            try:
                ledger = Ledger.open(pg_url, key, ORIGIN)
                for batch, seconds in ((1, 2.0), (1000, 3.0)):
                    got = bench_appends(ledger, batch, seconds)
                    floor = bench_raw_inserts(pg_url, batch, seconds / 2, entry_size)
                    results[f"pg_appends_per_s_batch{batch}"] = round(got)
                    results[f"pg_raw_inserts_per_s_batch{batch}"] = round(floor)
                    results[f"pg_ratio_batch{batch}"] = round(got / floor, 3)
                    print(
                        f"Postgres batch {batch:4d}: {got:10.0f} appends/s  raw floor "
                        f"{floor:10.0f}/s  ratio {got / floor:.2f}"
                    )
                ledger.close()
            finally:
                drop_pg_schema(schema)
        else:
            results["pg"] = "skipped: not reachable"

        # --- 10^6 entries: bulk build, then proof times ---
        datas = [b'{"kind":"bench","n":%d}' % n for n in range(BIG)]
        assert canonical_bytes({"kind": "bench", "n": 12345}) == datas[12345]
        start = time.perf_counter()
        for data in datas:
            hashlib.sha256(b"\x00" + data).digest()
        hash_seconds = time.perf_counter() - start
        big = Ledger.open(f"sqlite:///{tmp}/big.db", key, ORIGIN)
        start = time.perf_counter()
        step = 100_000
        for first in range(0, BIG, step):
            big.append_canonical(datas[first : first + step])
        build_seconds = time.perf_counter() - start
        big.checkpoint()
        results["big_entries"] = BIG
        results["big_build_s"] = round(build_seconds, 2)
        results["big_build_entries_per_s"] = round(BIG / build_seconds)
        results["raw_sha256_leaf_hashes_per_s"] = round(BIG / hash_seconds)
        results["build_vs_raw_hashing_ratio"] = round(hash_seconds / build_seconds, 3)
        print(
            f"10^6 build: {build_seconds:.1f} s ({BIG / build_seconds:.0f} entries/s); raw "
            f"SHA-256 leaf hashing {BIG / hash_seconds:.0f}/s"
        )
        times = proof_times(big, BIG, 2000)
        results.update(times)
        print(
            f"proofs at 10^6: inclusion p50 {times['inclusion_p50_ms']} ms "
            f"p99 {times['inclusion_p99_ms']} ms; consistency p50 "
            f"{times['consistency_p50_ms']} ms p99 {times['consistency_p99_ms']} ms; "
            f"verify inclusion p50 {times['verify_inclusion_p50_ms']} ms"
        )
        big.close()

    results["targets"] = {
        "sqlite_batched_appends_ge_10000": results["sqlite_appends_per_s_batch1000"] >= 10_000,
        "proofs_lt_1ms_at_1e6": max(times["inclusion_p50_ms"], times["consistency_p50_ms"]) < 1,
    }
    print(json.dumps(results, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
