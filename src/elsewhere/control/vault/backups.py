"""Backups that forget: each backup is encrypted under its epoch's key; destroying the key
(expiry) shreds every backup of that epoch, wherever copies went. A restore never brings an
erased subject back: subjects with a tombstone, or with a `vault.erased` entry in the ledger,
are skipped (their keys are not restored).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.engine import Connection

from elsewhere.control.broker.secrets import Kek
from elsewhere.control.store.ids import new_id
from elsewhere.control.store.transactions import read, write
from elsewhere.errors import ConfigError, InputError
from elsewhere.ledger.log import Ledger
from elsewhere.ledger.schema import ledger_entries
from elsewhere.timeutil import iso, parse_time, utcnow
from elsewhere.vault import backup as files
from elsewhere.vault import entries, keys
from elsewhere.vault.model import State, VaultSettings
from elsewhere.vault.schema import vault_epochs, vault_purposes, vault_records, vault_subjects

MAX_BACKUP_BYTES = 2 * 1024**3


@dataclass(frozen=True)
class Restored:
    subjects: int
    records: int
    skipped_erased: int
    skipped_live: int

    def to_json(self) -> dict[str, int]:
        return {
            "subjects": self.subjects,
            "records": self.records,
            "skipped_erased": self.skipped_erased,
            "skipped_live": self.skipped_live,
        }


def _epoch_aad(epoch_id: str) -> bytes:
    return keys.epoch_aad(epoch_id) + b"\x00kek"


def _current_epoch(conn: Connection, kek: Kek, settings: VaultSettings, into: bytearray) -> str:
    now = utcnow()
    row = conn.execute(
        select(vault_epochs)
        .where(vault_epochs.c.expires_at > now)
        .order_by(vault_epochs.c.created_at.desc())
        .limit(1)
    ).first()
    if row is not None:
        keys.open_into(kek.key, bytes(row.wrapped_key), _epoch_aad(row.id), into)
        return str(row.id)
    epoch_id = new_id("epoch")
    keys.new_key(into)
    conn.execute(
        insert(vault_epochs).values(
            id=epoch_id,
            kek_id=kek.id,
            wrapped_key=keys.seal(kek.key, into, _epoch_aad(epoch_id)),
            created_at=now,
            expires_at=now + settings.epoch,
        )
    )
    return epoch_id


def _subject_json(row: Any, purposes: list[str], records: list[Any]) -> dict[str, Any]:
    return {
        "tenant_id": row.tenant_id,
        "subject_hash": row.subject_hash,
        "state": row.state,
        "kek_id": row.kek_id,
        "wrapped_key": base64.b64encode(bytes(row.wrapped_key)).decode(),
        "hold": bool(row.hold),
        "born_on": row.born_on.isoformat() if row.born_on else None,
        "created_at": iso(row.created_at),
        "last_used_at": iso(row.last_used_at),
        "erase_after": iso(row.erase_after) if row.erase_after else None,
        "purposes": sorted(purposes),
        "records": [
            {
                "id": r.id,
                "purposes": r.purposes,
                "size": r.size,
                "ciphertext": base64.b64encode(bytes(r.ciphertext)).decode(),
                "created_at": iso(r.created_at),
            }
            for r in records
        ],
    }


def backup(engine: Engine, kek: Kek, settings: VaultSettings) -> tuple[str, bytes]:
    """Every subject that is not erased, sealed under the current epoch's key."""
    with keys.wiped() as epoch_key:
        with write(engine) as conn:
            epoch_id = _current_epoch(conn, kek, settings, epoch_key)
        with read(engine) as conn:
            subjects = conn.execute(
                select(vault_subjects)
                .where(vault_subjects.c.state != State.ERASED.value)
                .order_by(vault_subjects.c.tenant_id, vault_subjects.c.subject_hash)
            ).all()
            purposes: dict[tuple[str, str], list[str]] = {}
            for p in conn.execute(select(vault_purposes)):
                purposes.setdefault((p.tenant_id, p.subject_hash), []).append(p.purpose)
            records: dict[tuple[str, str], list[Any]] = {}
            for r in conn.execute(select(vault_records).order_by(vault_records.c.id)):
                records.setdefault((r.tenant_id, r.subject_hash), []).append(r)
        payload = {
            "subjects": [
                _subject_json(
                    s,
                    purposes.get((s.tenant_id, s.subject_hash), []),
                    records.get((s.tenant_id, s.subject_hash), []),
                )
                for s in subjects
                if s.wrapped_key is not None
            ]
        }
        header = files.Header(epoch_id, iso(utcnow()), len(payload["subjects"]))
        return epoch_id, files.encode(header, payload, epoch_key)


def _erased(conn: Connection) -> set[tuple[str, str]]:
    """(tenant, subject hash) of every erasure: tombstones and the ledger's entries."""
    gone = {
        (r.tenant_id, r.subject_hash)
        for r in conn.execute(
            select(vault_subjects.c.tenant_id, vault_subjects.c.subject_hash).where(
                vault_subjects.c.state == State.ERASED.value
            )
        )
    }
    for data in conn.execute(
        select(ledger_entries.c.data).where(ledger_entries.c.kind == entries.ERASED)
    ).scalars():
        entry = json.loads(bytes(data))
        gone.add((str(entry.get("tenant")), str(entry.get("subject"))))
    return gone


def restore(engine: Engine, kek: Kek, data: bytes) -> Restored:
    if len(data) > MAX_BACKUP_BYTES:
        raise InputError("vault backup", "", f"larger than {MAX_BACKUP_BYTES} bytes")
    header, _, _ = files.read_header(data)
    with read(engine) as conn:
        row = conn.execute(select(vault_epochs).where(vault_epochs.c.id == header.epoch)).first()
    if row is None:
        raise ConfigError(
            "vault backup", header.epoch, "its epoch key was destroyed (expired): it cannot open"
        )
    with keys.wiped() as epoch_key:
        keys.open_into(kek.key, bytes(row.wrapped_key), _epoch_aad(row.id), epoch_key)
        _, payload = files.decode(data, epoch_key)
    subjects = records = skipped_erased = skipped_live = 0
    with write(engine) as conn:
        gone = _erased(conn)
        live = {
            (r.tenant_id, r.subject_hash)
            for r in conn.execute(select(vault_subjects.c.tenant_id, vault_subjects.c.subject_hash))
        }
        for s in payload["subjects"]:
            try:
                key = (str(s["tenant_id"]), str(s["subject_hash"]))
                if key in gone:
                    skipped_erased += 1
                    continue
                if key in live:
                    skipped_live += 1
                    continue
                _insert_subject(conn, s)
            except (KeyError, TypeError, ValueError):
                raise InputError(
                    "vault backup", "payload", "a subject entry is malformed"
                ) from None
            subjects += 1
            records += len(s["records"])
    return Restored(subjects, records, skipped_erased, skipped_live)


def _insert_subject(conn: Connection, s: dict[str, Any]) -> None:
    conn.execute(
        insert(vault_subjects).values(
            tenant_id=s["tenant_id"],
            subject_hash=s["subject_hash"],
            state=s["state"],
            kek_id=s["kek_id"],
            wrapped_key=base64.b64decode(s["wrapped_key"]),
            hold=bool(s["hold"]),
            born_on=dt.date.fromisoformat(s["born_on"]) if s["born_on"] else None,
            created_at=parse_time(s["created_at"]),
            last_used_at=parse_time(s["last_used_at"]),
            erase_after=parse_time(s["erase_after"]) if s["erase_after"] else None,
        )
    )
    if s["purposes"]:
        conn.execute(
            insert(vault_purposes),
            [
                {"tenant_id": s["tenant_id"], "subject_hash": s["subject_hash"], "purpose": p}
                for p in s["purposes"]
            ],
        )
    if s["records"]:
        conn.execute(
            insert(vault_records),
            [
                {
                    "id": r["id"],
                    "tenant_id": s["tenant_id"],
                    "subject_hash": s["subject_hash"],
                    "purposes": r["purposes"],
                    "size": int(r["size"]),
                    "ciphertext": base64.b64decode(r["ciphertext"]),
                    "created_at": parse_time(r["created_at"]),
                }
                for r in s["records"]
            ],
        )


def expire_epochs(
    engine: Engine, ledger: Ledger, epoch_id: str | None = None, now: dt.datetime | None = None
) -> list[str]:
    """Destroy the key of `epoch_id` (or of every epoch past its expiry): its backups no
    longer open. One ledger entry per epoch, in the same transaction."""
    now = now or utcnow()
    with write(engine) as conn:
        query = select(vault_epochs.c.id)
        query = (
            query.where(vault_epochs.c.id == epoch_id)
            if epoch_id is not None
            else query.where(vault_epochs.c.expires_at <= now)
        )
        ids = sorted(conn.execute(query).scalars())
        if epoch_id is not None and not ids:
            raise InputError("backup epoch", epoch_id[:40], "no such epoch (expired already?)")
        if ids:
            conn.execute(delete(vault_epochs).where(vault_epochs.c.id.in_(ids)))
            ledger.append_many(
                [entries.entry(entries.EPOCH_EXPIRED, now, epoch=i) for i in ids],
                connection=conn,
            )
    return ids
