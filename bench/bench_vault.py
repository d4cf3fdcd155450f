"""The vault's costs, each beside its comparison measured in the same run.

1. Records encrypted and decrypted per second through the vault's path (unwrap the subject's
   data key under the KEK into a bytearray, AES-256-GCM with the subject and record bound as
   associated data, wipe) beside raw AES-256-GCM of the same records under one fixed key.
2. Erasures per second with N subjects in the store (default 10^6; one record each): each
   erasure destroys the wrapped key, deletes the records and purposes and appends the
   `vault.erased` ledger entry, in transactions of 500 — beside the floor of deleting the
   same number of other subjects' rows with bare DELETE statements (no tombstone, no ledger).
3. One retention sweep over the N subjects (rule idle:30d, DUE of them due) beside the bare
   query that finds the due subjects.

    python bench/bench_vault.py            # N = 10^6 (a few minutes: mostly the set-up)
    python bench/bench_vault.py --quick    # N = 10^4
    python bench/bench_vault.py --database postgresql://postgres@127.0.0.1:5432/bench_vault

The last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import cast

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import delete, insert, select

from elsewhere.control.config import ControlConfig, ControlPlane
from elsewhere.control.store.transactions import read, write
from elsewhere.control.tenancy.tenants import create_tenant
from elsewhere.control.vault import erasure, retention
from elsewhere.vault import keys
from elsewhere.vault.model import State
from elsewhere.vault.schema import vault_purposes, vault_records, vault_subjects

RECORD = 256  # bytes: a name, a date of birth, an address, a shoe size


def crypto_rates(count: int, rounds: int = 9) -> dict[str, float]:
    """Vault and raw paths in alternating rounds (this shared machine's speed moves within
    seconds); each figure is the median round's rate."""
    kek = secrets.token_bytes(32)
    tenant, subject = "ten_bench", "0" * 64
    with keys.wiped() as data_key:
        keys.new_key(data_key)
        wrapped = keys.wrap_key(kek, data_key, tenant, subject)
    value = secrets.token_bytes(RECORD)
    per_round = max(1, count // rounds)
    ids = [f"rec_{i:016x}" for i in range(per_round)]
    raw = AESGCM(secrets.token_bytes(32))
    nonces = [secrets.token_bytes(12) for _ in range(per_round)]
    rates: dict[str, list[float]] = {"ve": [], "vd": [], "re": [], "rd": []}

    def timed(name: str, work: Callable[[], object]) -> object:
        start = time.perf_counter()
        result = work()
        rates[name].append(per_round / (time.perf_counter() - start))
        return result

    def vault_encrypt() -> list[bytes]:
        sealed = []
        for record_id in ids:
            with keys.wiped() as key:
                keys.unwrap_key(kek, wrapped, tenant, subject, key)
                sealed.append(keys.seal(key, value, keys.record_aad(tenant, subject, record_id)))
        return sealed

    def vault_decrypt(sealed: list[bytes]) -> None:
        for record_id, blob in zip(ids, sealed, strict=True):
            with keys.wiped() as key:
                keys.unwrap_key(kek, wrapped, tenant, subject, key)
                keys.open_record(key, blob, keys.record_aad(tenant, subject, record_id))

    def raw_decrypt(sealed: list[bytes]) -> None:
        for n, blob in zip(nonces, sealed, strict=True):
            raw.decrypt(n, blob, None)

    for _ in range(rounds):
        sealed = cast(list[bytes], timed("ve", vault_encrypt))
        timed("vd", functools.partial(vault_decrypt, sealed))
        raw_sealed = cast(
            list[bytes], timed("re", lambda: [raw.encrypt(n, value, None) for n in nonces])
        )
        timed("rd", functools.partial(raw_decrypt, raw_sealed))
    median = {k: statistics.median(v) for k, v in rates.items()}
    return {
        "vault_encrypt_per_s": median["ve"],
        "raw_encrypt_per_s": median["re"],
        "encrypt_ratio": median["ve"] / median["re"],
        "vault_decrypt_per_s": median["vd"],
        "raw_decrypt_per_s": median["rd"],
        "decrypt_ratio": median["vd"] / median["rd"],
    }


def populate(cp: ControlPlane, tenant: str, count: int, due: int) -> list[str]:
    """`count` subjects with one record and one purpose each, in batch inserts; the first
    `due` were last used 40 days ago. Returns the hashes in insertion order."""
    now = dt.datetime.now(dt.UTC)
    old = now - dt.timedelta(days=40)
    hashes = [keys.subject_hash(cp.kek.key, tenant, f"subject-{i}") for i in range(count)]
    chunk = 20_000
    for start in range(0, count, chunk):
        part = hashes[start : start + chunk]
        subjects, recs, purposes = [], [], []
        for n, h in enumerate(part, start):
            with keys.wiped() as key:
                keys.new_key(key)
                wrapped = keys.wrap_key(cp.kek.key, key, tenant, h)
            subjects.append(
                {
                    "tenant_id": tenant,
                    "subject_hash": h,
                    "state": State.ACTIVE.value,
                    "kek_id": cp.kek.id,
                    "wrapped_key": wrapped,
                    "hold": False,
                    "born_on": None,
                    "created_at": now,
                    "last_used_at": old if n < due else now,
                }
            )
            recs.append(
                {
                    "id": f"rec_{n:016x}",
                    "tenant_id": tenant,
                    "subject_hash": h,
                    "purposes": '["gift-matching"]',
                    "size": RECORD,
                    "ciphertext": os.urandom(RECORD + 28),
                    "created_at": now,
                }
            )
            purposes.append({"tenant_id": tenant, "subject_hash": h, "purpose": "gift-matching"})
        with write(cp.engine) as conn:
            conn.execute(insert(vault_subjects), subjects)
            conn.execute(insert(vault_records), recs)
            conn.execute(insert(vault_purposes), purposes)
    return hashes


def erasure_rates(
    cp: ControlPlane, tenant: str, victims: list[str], floor: list[str]
) -> dict[str, float]:
    batch = erasure.CHUNK
    start = time.perf_counter()
    for i in range(0, len(victims), batch):
        with write(cp.engine) as conn:
            erasure.shred(conn, cp.ledger, tenant, victims[i : i + batch], "bench")
    shred_rate = len(victims) / (time.perf_counter() - start)
    start = time.perf_counter()
    for i in range(0, len(floor), batch):
        part = floor[i : i + batch]
        with write(cp.engine) as conn:
            for table in (vault_records, vault_purposes, vault_subjects):
                conn.execute(
                    delete(table).where(table.c.tenant_id == tenant, table.c.subject_hash.in_(part))
                )
    floor_rate = len(floor) / (time.perf_counter() - start)
    return {
        "erasures_per_s": shred_rate,
        "bare_deletes_per_s": floor_rate,
        "erasure_ratio": shred_rate / floor_rate,
    }


def sweep_times(cp: ControlPlane, tenant: str) -> dict[str, float]:
    with write(cp.engine) as conn:
        rule = retention.add_rule(conn, cp.kek, tenant, "purpose", "gift-matching", "idle:30d")
    cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    start = time.perf_counter()
    with read(cp.engine) as conn:
        found = (
            conn.execute(
                select(vault_subjects.c.subject_hash).where(
                    vault_subjects.c.tenant_id == tenant,
                    vault_subjects.c.state != State.ERASED.value,
                    vault_subjects.c.last_used_at <= cutoff,
                )
            )
            .scalars()
            .all()
        )
    query = time.perf_counter() - start
    start = time.perf_counter()
    result = retention.sweep(cp.engine, cp.ledger)
    sweep = time.perf_counter() - start
    return {
        "sweep_s": sweep,
        "sweep_erased": float(result.by_rule[rule["id"]]),
        "due_query_s": query,
        "due_found": float(len(found)),
        "sweep_ratio": sweep / query,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="N = 10^4")
    parser.add_argument("--subjects", type=int, help="N (default 10^6, or 10^4 with --quick)")
    parser.add_argument("--database", help="postgresql://… (default: SQLite in a temp dir)")
    args = parser.parse_args()
    count = args.subjects or (10_000 if args.quick else 1_000_000)
    erase = max(100, min(20_000, count // 50))
    due = max(100, count // 100)
    figures: dict[str, float] = {"subjects": float(count)}
    figures |= crypto_rates(20_000 if not args.quick else 5_000)
    print(
        f"records: vault encrypt {figures['vault_encrypt_per_s']:,.0f}/s vs raw AES-256-GCM "
        f"{figures['raw_encrypt_per_s']:,.0f}/s (x{figures['encrypt_ratio']:.2f}); decrypt "
        f"{figures['vault_decrypt_per_s']:,.0f}/s vs {figures['raw_decrypt_per_s']:,.0f}/s "
        f"(x{figures['decrypt_ratio']:.2f})",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        cp = ControlPlane.open(ControlConfig.for_dir(Path(tmp), args.database))
        try:
            with write(cp.engine) as conn:
                tenant = create_tenant(conn, f"bench-{secrets.token_hex(3)}").id
            start = time.perf_counter()
            hashes = populate(cp, tenant, count, due)
            figures["setup_s"] = time.perf_counter() - start
            print(f"set-up: {count:,} subjects in {figures['setup_s']:.1f} s", flush=True)
            # Victims and floor rows come from the subjects that are not due.
            figures |= erasure_rates(
                cp, tenant, hashes[due : due + erase], hashes[due + erase : due + 2 * erase]
            )
            figures["erased"] = float(erase)
            print(
                f"erasure: {figures['erasures_per_s']:,.0f}/s at {count:,} subjects vs bare "
                f"DELETE {figures['bare_deletes_per_s']:,.0f}/s "
                f"(x{figures['erasure_ratio']:.2f})",
                flush=True,
            )
            figures |= sweep_times(cp, tenant)
            print(
                f"retention sweep over {count:,} subjects: {figures['sweep_s']:.2f} s, "
                f"{figures['sweep_erased']:,.0f} erased; the bare due query "
                f"{figures['due_query_s']:.3f} s (x{figures['sweep_ratio']:.1f})",
                flush=True,
            )
            with read(cp.engine) as conn:
                left = conn.execute(select(vault_subjects.c.state)).scalars().all()
            figures["ledger_size"] = float(cp.ledger.size)
            assert left.count(State.ERASED.value) == erase + due
        finally:
            cp.close()
    print(
        json.dumps(
            {"bench": "vault", "database": "postgresql" if args.database else "sqlite"}
            | {k: round(v, 4) for k, v in figures.items()}
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
