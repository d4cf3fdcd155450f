"""Erasure by crypto-shredding: request (grace period), legal hold, k-of-n operator approval,
completion, and the subject's signed receipt.

Completing an erasure, in ONE transaction: the records, purposes and approvals are deleted,
the subject's wrapped data key and date of birth are overwritten with NULL (SQLite zeroes
freed cells: db/engine.py), the row becomes a tombstone (subject hash, state `erased`), and
the `vault.erased` ledger entry is appended; the tombstone keeps its index for the receipt.
Either all of it commits or none of it.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import secrets as random
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError

from elsewhere.control.broker.secrets import Kek
from elsewhere.control.vault.records import subject_key, subject_row
from elsewhere.errors import Conflict, InputError, NotFound
from elsewhere.ledger.log import Ledger
from elsewhere.timeutil import iso, utcnow
from elsewhere.vault import entries, receipts
from elsewhere.vault.model import State, VaultSettings, due, may_request_erasure
from elsewhere.vault.schema import vault_approvals, vault_purposes, vault_records, vault_subjects

log = logging.getLogger("elsewhere.control")
CHUNK = 500  # subject hashes per IN (…) (SQLite caps a statement's parameters)


def _where(tenant_id: str, subject_hash: str) -> Any:
    return and_(
        vault_subjects.c.tenant_id == tenant_id, vault_subjects.c.subject_hash == subject_hash
    )


def _existing(conn: Connection, tenant_id: str, subject_hash: str) -> Any:
    row = subject_row(conn, tenant_id, subject_hash)
    if row is None:
        raise NotFound("subject")
    return row


def shred(
    conn: Connection,
    ledger: Ledger,
    tenant_id: str,
    subject_hashes: Sequence[str],
    reason: str,
    now: dt.datetime | None = None,
) -> list[str]:
    """Erase the given subjects (those not held and not erased yet) inside `conn`'s
    transaction; returns the hashes erased, in order. One ledger append for all of them."""
    now = now or utcnow()
    erased: list[str] = []
    for start in range(0, len(subject_hashes), CHUNK):
        part = list(subject_hashes[start : start + CHUNK])
        # Lock the rows by changing them first; only rows not held and not erased move.
        moved = conn.execute(
            update(vault_subjects)
            .where(
                vault_subjects.c.tenant_id == tenant_id,
                vault_subjects.c.subject_hash.in_(part),
                vault_subjects.c.state != State.ERASED.value,
                vault_subjects.c.hold.is_(False),
            )
            .values(
                state=State.ERASED.value,
                wrapped_key=None,
                kek_id=None,
                born_on=None,
                erase_after=None,
                erased_at=now,
            )
            .returning(vault_subjects.c.subject_hash)
        )
        done = sorted(moved.scalars())
        if not done:
            continue
        for table in (vault_records, vault_purposes, vault_approvals):
            conn.execute(
                delete(table).where(table.c.tenant_id == tenant_id, table.c.subject_hash.in_(done))
            )
        indexes = ledger.append_many(
            [
                entries.entry(entries.ERASED, now, tenant=tenant_id, subject=h, reason=reason)
                for h in done
            ],
            connection=conn,
        )
        conn.execute(
            update(vault_subjects)
            .where(
                vault_subjects.c.tenant_id == tenant_id,
                vault_subjects.c.subject_hash == bindparam("h"),
            )
            .values(erased_index=bindparam("i")),
            [{"h": h, "i": i} for h, i in zip(done, indexes, strict=True)],
        )
        erased += done
    return erased


def request_erasure(
    conn: Connection,
    ledger: Ledger,
    settings: VaultSettings,
    tenant_id: str,
    subject_hash: str,
) -> dict[str, Any]:
    """Start the grace period (every use refused from now on); with no grace, erase now."""
    row = _existing(conn, tenant_id, subject_hash)
    may_request_erasure(row.state, bool(row.hold))
    now = utcnow()
    erase_after = now + settings.grace
    conn.execute(
        update(vault_subjects)
        .where(_where(tenant_id, subject_hash))
        .values(state=State.PENDING.value, erase_after=erase_after)
    )
    index = ledger.append(
        entries.entry(
            entries.ERASURE_REQUESTED,
            now,
            tenant=tenant_id,
            subject=subject_hash,
            erase_after=iso(erase_after),
        ),
        connection=conn,
    )
    if settings.grace <= dt.timedelta(0):
        shred(conn, ledger, tenant_id, [subject_hash], "requested, no grace period", now)
        return {"subject": subject_hash, "state": State.ERASED.value, "ledger_index": index}
    return {
        "subject": subject_hash,
        "state": State.PENDING.value,
        "erase_after": iso(erase_after),
        "ledger_index": index,
    }


def set_hold(
    conn: Connection,
    ledger: Ledger,
    settings: VaultSettings,
    tenant_id: str,
    subject_hash: str,
    on: bool,
    why: str,
) -> dict[str, Any]:
    """Set or lift a legal hold. Lifting it completes, in the same transaction, a pending
    erasure that is due by then: enough operators approved while it was held, or its grace
    period ended (it does not wait for the next sweep)."""
    row = _existing(conn, tenant_id, subject_hash)
    if row.state == State.ERASED:
        raise Conflict("subject was erased: nothing left to hold")
    if not why.strip() or len(why) > 200:
        raise InputError("legal hold", "reason", "give a reason of 1-200 characters")
    conn.execute(update(vault_subjects).where(_where(tenant_id, subject_hash)).values(hold=on))
    now = utcnow()
    index = ledger.append(
        entries.entry(
            entries.HOLD, now, tenant=tenant_id, subject=subject_hash, hold=on, reason=why
        ),
        connection=conn,
    )
    count = _approvals(conn, tenant_id, subject_hash)
    erased = (
        not on
        and due(row.state, False, row.erase_after, count, settings, now)
        and bool(shred(conn, ledger, tenant_id, [subject_hash], "legal hold lifted", now))
    )
    state = State.ERASED.value if erased else str(row.state)
    return {"subject": subject_hash, "hold": on, "state": state, "ledger_index": index}


def _approvals(conn: Connection, tenant_id: str, subject_hash: str) -> int:
    return int(
        conn.execute(
            select(func.count()).where(
                vault_approvals.c.tenant_id == tenant_id,
                vault_approvals.c.subject_hash == subject_hash,
            )
        ).scalar_one()
    )


def approve(
    conn: Connection,
    ledger: Ledger,
    settings: VaultSettings,
    tenant_id: str,
    subject_hash: str,
    operator_id: str,
) -> dict[str, Any]:
    """One operator's approval to skip the grace period; the k-th distinct one erases now."""
    row = _existing(conn, tenant_id, subject_hash)
    if row.state != State.PENDING:
        raise Conflict(f"subject is {row.state}: only a pending erasure can be approved")
    now = utcnow()
    try:
        with conn.begin_nested():
            conn.execute(
                insert(vault_approvals).values(
                    tenant_id=tenant_id,
                    subject_hash=subject_hash,
                    operator=operator_id,
                    created_at=now,
                )
            )
    except IntegrityError:
        raise Conflict("this operator approved this erasure already") from None
    count = _approvals(conn, tenant_id, subject_hash)
    index = ledger.append(
        entries.entry(
            entries.APPROVAL,
            now,
            tenant=tenant_id,
            subject=subject_hash,
            operator=operator_id,
            approvals=count,
            required=settings.approvals,
        ),
        connection=conn,
    )
    erased = due(row.state, bool(row.hold), row.erase_after, count, settings, now) and bool(
        shred(conn, ledger, tenant_id, [subject_hash], f"approved by {count} operators", now)
    )
    return {
        "subject": subject_hash,
        "approvals": count,
        "required": settings.approvals,
        "state": State.ERASED.value if erased else State.PENDING.value,
        "hold": bool(row.hold),
        "ledger_index": index,
    }


def complete_due(conn: Connection, ledger: Ledger, now: dt.datetime | None = None) -> int:
    """Erase every pending subject whose grace period has ended (held ones wait)."""
    now = now or utcnow()
    rows = conn.execute(
        select(vault_subjects.c.tenant_id, vault_subjects.c.subject_hash).where(
            vault_subjects.c.state == State.PENDING.value,
            vault_subjects.c.hold.is_(False),
            vault_subjects.c.erase_after <= now,
        )
    ).all()
    by_tenant: dict[str, list[str]] = {}
    for r in rows:
        by_tenant.setdefault(r.tenant_id, []).append(r.subject_hash)
    return sum(
        len(shred(conn, ledger, tenant, hashes, "grace period ended", now))
        for tenant, hashes in by_tenant.items()
    )


def receipt(conn: Connection, ledger: Ledger, kek: Kek, tenant_id: str, subject: str) -> bytes:
    """The signed erasure receipt for `subject` (its id is given, used only for the salted
    commitment in the receipt, and not kept)."""
    subject_hash = subject_key(kek, tenant_id, subject)
    row = _existing(conn, tenant_id, subject_hash)
    if row.state != State.ERASED or row.erased_index is None:
        raise Conflict(f"subject is {row.state}: a receipt exists only after erasure")
    if ledger.signer is None:
        raise Conflict("the ledger's signing key is not loaded: cannot sign a receipt")
    salt = random.token_bytes(16)
    bundle = ledger.bundle(int(row.erased_index))
    body = receipts.Receipt(
        origin=ledger.origin,
        tenant=tenant_id,
        subject_hash=subject_hash,
        commitment=receipts.commitment(salt, subject),
        index=int(row.erased_index),
        erased_at=iso(row.erased_at),
    )
    return receipts.issue(body, salt, bundle, ledger.signer)


VACUUMED = ("vault_records", "vault_subjects", "vault_purposes", "vault_approvals", "vault_epochs")
_KEPT = re.compile(r"([0-9]+) dead row versions cannot be removed yet")


def flush(engine: Engine, *, vacuum: bool = False) -> int:
    """After an erasure committed: SQLite copies the WAL (holding the rows' earlier pages) into
    the database file, whose freed cells were zeroed on delete, and truncates it. On
    PostgreSQL, with `vacuum`, VACUUM FULL rewrites the vault's tables without the dead rows
    (plain VACUUM leaves their bytes in the pages). Returns how many dead row versions
    PostgreSQL had to keep because a transaction still running might see them (0: none;
    at least 1 when VACUUM could not get its lock in time)."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            return 0
        if not vacuum:
            return 0
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        kept: list[int] = []

        def notice(diagnostic: Any) -> None:
            # "… N dead row versions cannot be removed yet." is in the notice's detail.
            said = f"{diagnostic.message_primary or ''} {diagnostic.message_detail or ''}"
            found = _KEPT.search(said)
            kept.append(int(found.group(1)) if found else 0)

        raw = conn.connection.dbapi_connection
        assert raw is not None
        raw.add_notice_handler(notice)
        try:
            conn.exec_driver_sql("VACUUM (FULL, VERBOSE) " + ", ".join(VACUUMED))
        except DBAPIError as error:
            # VACUUM FULL waits for every open reader of the tables: under the statement
            # timeout it may not get its lock. Nothing was removed; the next sweep tries again.
            log.warning("vault: VACUUM FULL did not run: %s", type(error.orig).__name__)
            return max(1, sum(kept))
        finally:
            raw.remove_notice_handler(notice)
        return sum(kept)
