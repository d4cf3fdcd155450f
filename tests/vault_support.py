"""Shared set-up for the vault tests: a control plane (no server) on SQLite or PostgreSQL, and
a tenant; helpers that read what an auditor would look for."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import select

from elsewhere.control.config import ControlConfig, ControlPlane
from elsewhere.control.store.transactions import read, write
from elsewhere.control.tenancy.tenants import create_tenant
from elsewhere.control.vault import records
from elsewhere.vault import keys
from elsewhere.vault.model import VaultSettings
from elsewhere.vault.schema import vault_records, vault_subjects

NO_GRACE = VaultSettings(grace=dt.timedelta(0), approvals=2)
WEEK = VaultSettings(grace=dt.timedelta(days=7), approvals=2)


@contextlib.contextmanager
def plane(tmp: Path, database_url: str | None) -> Iterator[tuple[ControlPlane, str]]:
    cp = ControlPlane.open(ControlConfig.for_dir(tmp / "cp", database_url))
    try:
        with write(cp.engine) as conn:
            tenant = create_tenant(conn, "santa").id
        yield cp, tenant
    finally:
        cp.close()


def put(
    cp: ControlPlane,
    tenant: str,
    subject: str,
    value: bytes,
    *purposes: str,
    born: dt.date | None = None,
) -> records.Stored:
    with write(cp.engine) as conn:
        return records.put_record(
            conn, cp.kek, tenant, subject, list(purposes or ("gift-matching",)), value, born
        )


def key_material(cp: ControlPlane, tenant: str, subject_hash: str) -> dict[str, bytes]:
    """What must be gone after erasure: the unwrapped data key, the wrapped key, ciphertexts."""
    with read(cp.engine) as conn:
        row = conn.execute(
            select(vault_subjects).where(vault_subjects.c.subject_hash == subject_hash)
        ).one()
        blobs = (
            conn.execute(
                select(vault_records.c.ciphertext).where(
                    vault_records.c.subject_hash == subject_hash
                )
            )
            .scalars()
            .all()
        )
    data_key = bytearray(32)
    records.unwrap(cp.kek, row, data_key)
    found: dict[str, bytes] = {"data key": bytes(data_key), "wrapped key": bytes(row.wrapped_key)}
    for n, blob in enumerate(blobs):
        found[f"ciphertext {n}"] = bytes(blob)
    return found


def hits(haystack: bytes, needles: dict[str, bytes]) -> list[str]:
    return [name for name, needle in needles.items() if needle and needle in haystack]


def open_with(data_key: bytes, tenant: str, subject_hash: str, record_id: str, blob: bytes) -> Any:
    return keys.open_record(data_key, blob, keys.record_aad(tenant, subject_hash, record_id))
