"""Put records for a subject and read what is known about them (never their values).

The control plane encrypts a record as it arrives (under the subject's data key, unwrapped for
that moment into a bytearray that is wiped afterwards) and never decrypts one: values leave
only as ciphertext, to a keep that was given the data key (control/vault/release.py).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from elsewhere.control.broker.secrets import Kek
from elsewhere.control.store.ids import new_id
from elsewhere.control.store.tables import deployments
from elsewhere.errors import Conflict, InputError, NotFound
from elsewhere.timeutil import iso, utcnow
from elsewhere.vault import keys
from elsewhere.vault.model import (
    State,
    check_purposes,
    check_record,
    check_subject,
    usable,
)
from elsewhere.vault.schema import vault_grants, vault_purposes, vault_records, vault_subjects


@dataclass(frozen=True)
class Stored:
    subject_hash: str
    record_id: str


def subject_key(kek: Kek, tenant_id: str, subject: str) -> str:
    return keys.subject_hash(kek.key, tenant_id, check_subject(subject))


def subject_row(conn: Connection, tenant_id: str, subject_hash: str) -> Any:
    return conn.execute(
        select(vault_subjects).where(
            vault_subjects.c.tenant_id == tenant_id, vault_subjects.c.subject_hash == subject_hash
        )
    ).first()


def put_record(
    conn: Connection,
    kek: Kek,
    tenant_id: str,
    subject: str,
    purposes: list[str],
    value: bytes,
    born_on: dt.date | None = None,
) -> Stored:
    """Encrypt and store one record for `subject` (the subject is created on first use)."""
    check_record(value)
    wanted = check_purposes(purposes)
    hashed = subject_key(kek, tenant_id, subject)
    now = utcnow()
    row = subject_row(conn, tenant_id, hashed)
    record_id = new_id("rec")
    with keys.wiped() as data_key:
        if row is None:
            keys.new_key(data_key)
            try:
                with conn.begin_nested():
                    conn.execute(
                        insert(vault_subjects).values(
                            tenant_id=tenant_id,
                            subject_hash=hashed,
                            state=State.ACTIVE.value,
                            kek_id=kek.id,
                            wrapped_key=keys.wrap_key(kek.key, data_key, tenant_id, hashed),
                            hold=False,
                            born_on=born_on,
                            created_at=now,
                            last_used_at=now,
                        )
                    )
            except IntegrityError:  # another request created it meanwhile
                raise Conflict("subject was created by a concurrent request: retry") from None
            have: set[str] = set()
        else:
            usable(row.state)
            unwrap(kek, row, data_key)
            changes: dict[str, Any] = {"last_used_at": now}
            if born_on is not None:
                changes["born_on"] = born_on
            conn.execute(
                update(vault_subjects)
                .where(
                    vault_subjects.c.tenant_id == tenant_id,
                    vault_subjects.c.subject_hash == hashed,
                )
                .values(**changes)
            )
            have = set(
                conn.execute(
                    select(vault_purposes.c.purpose).where(
                        vault_purposes.c.tenant_id == tenant_id,
                        vault_purposes.c.subject_hash == hashed,
                    )
                ).scalars()
            )
        ciphertext = keys.seal(data_key, value, keys.record_aad(tenant_id, hashed, record_id))
    conn.execute(
        insert(vault_records).values(
            id=record_id,
            tenant_id=tenant_id,
            subject_hash=hashed,
            purposes=json.dumps(list(wanted)),
            size=len(value),
            ciphertext=ciphertext,
            created_at=now,
        )
    )
    missing = [p for p in wanted if p not in have]
    if missing:
        conn.execute(
            insert(vault_purposes),
            [{"tenant_id": tenant_id, "subject_hash": hashed, "purpose": p} for p in missing],
        )
    return Stored(hashed, record_id)


def unwrap(kek: Kek, row: Any, into: bytearray) -> None:
    if row.wrapped_key is None:
        raise keys.KeyUnavailable("vault: the subject's data key was destroyed")
    if row.kek_id != kek.id:
        raise keys.KeyUnavailable("vault: subject key stored under another key-encryption key")
    keys.unwrap_key(kek.key, bytes(row.wrapped_key), row.tenant_id, row.subject_hash, into)


def subject_meta(conn: Connection, tenant_id: str, subject_hash: str) -> dict[str, Any]:
    """State, hold, purposes and record metadata (id, purposes, size, when): never a value."""
    row = subject_row(conn, tenant_id, subject_hash)
    if row is None:
        raise NotFound("subject")
    records = conn.execute(
        select(
            vault_records.c.id,
            vault_records.c.purposes,
            vault_records.c.size,
            vault_records.c.created_at,
        )
        .where(vault_records.c.tenant_id == tenant_id, vault_records.c.subject_hash == subject_hash)
        .order_by(vault_records.c.created_at, vault_records.c.id)
    ).all()
    return {
        "subject": subject_hash,
        "state": row.state,
        "hold": bool(row.hold),
        "born_on": row.born_on.isoformat() if row.born_on else None,
        "last_used_at": iso(row.last_used_at),
        "erase_after": iso(row.erase_after) if row.erase_after else None,
        "erased_at": iso(row.erased_at) if row.erased_at else None,
        "erased_index": row.erased_index,
        "records": [
            {
                "id": r.id,
                "purposes": json.loads(r.purposes),
                "size": r.size,
                "created_at": iso(r.created_at),
            }
            for r in records
        ],
    }


def list_subjects(
    conn: Connection, tenant_id: str, state: str | None = None, limit: int = 1000
) -> list[dict[str, Any]]:
    if state is not None and state not in {s.value for s in State}:
        raise InputError("state", state[:20], "one of active, pending, erased")
    counts = (
        select(vault_records.c.subject_hash, func.count().label("n"))
        .where(vault_records.c.tenant_id == tenant_id)
        .group_by(vault_records.c.subject_hash)
        .subquery()
    )
    query = (
        select(
            vault_subjects.c.subject_hash, vault_subjects.c.state, vault_subjects.c.hold, counts.c.n
        )
        .outerjoin(counts, counts.c.subject_hash == vault_subjects.c.subject_hash)
        .where(vault_subjects.c.tenant_id == tenant_id)
        .order_by(vault_subjects.c.subject_hash)
        .limit(max(1, min(limit, 10_000)))
    )
    if state is not None:
        query = query.where(vault_subjects.c.state == state)
    return [
        {"subject": r.subject_hash, "state": r.state, "hold": bool(r.hold), "records": r.n or 0}
        for r in conn.execute(query)
    ]


def declare_purposes(
    conn: Connection, tenant_id: str, deployment_id: str, purposes: list[str]
) -> tuple[str, ...]:
    """What a deployment may receive subjects' keys for (replaces its earlier declaration)."""
    wanted = check_purposes(purposes)
    owner = conn.execute(
        select(deployments.c.tenant_id).where(deployments.c.id == deployment_id)
    ).scalar()
    if owner != tenant_id:
        raise NotFound("deployment")
    conn.execute(vault_grants.delete().where(vault_grants.c.deployment_id == deployment_id))
    conn.execute(
        insert(vault_grants),
        [{"tenant_id": tenant_id, "deployment_id": deployment_id, "purpose": p} for p in wanted],
    )
    return wanted
