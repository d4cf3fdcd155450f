"""Leases: one replica at a time runs each once-per-cluster duty (the scheduling round, the
checkpoint signer), and another takes it over once the holder stops renewing.

A lease is a row (`cp_leases`: name, holder, expiry) compared with the DATABASE's clock, so
replicas on machines with different clocks agree. `hold` renews a lease this replica holds,
or takes one that has expired, in ONE conditional UPDATE inside the caller's transaction:

- the UPDATE row-locks the lease until that transaction ends, so a duty done in the same
  transaction is fenced: a replica that was paused (SIGSTOP) past its expiry and wakes up
  finds its UPDATE matches nothing (someone else holds it now) and does nothing, and the
  taker cannot take it while the holder's round is still committing;
- a holder killed with SIGKILL just stops renewing: another replica takes the lease at its
  first round after the expiry (`LEASE_SECONDS` plus one maintenance interval at most).

Why rows and not PostgreSQL session advisory locks: a paused process keeps its connection,
so its advisory lock would never be released; a lease row expires. SQLite (one machine)
uses the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, Float, case, literal_column, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from elsewhere.control.store.tables import leases

SCHEDULER = "scheduler"
CHECKPOINTS = "checkpoint-signer"
LEASE_SECONDS = 5.0  # a dead holder's duty resumes elsewhere within this (plus one round)


def db_now(conn: Connection) -> ColumnElement[float]:
    """The database's current time in seconds since the epoch, as an SQL expression."""
    if conn.dialect.name == "postgresql":
        return literal_column("extract(epoch from clock_timestamp())", Float)
    return literal_column("((julianday('now') - 2440587.5) * 86400.0)", Float)


def hold(conn: Connection, name: str, holder: str, seconds: float = LEASE_SECONDS) -> bool:
    """Renew or take lease `name` for `holder` until `seconds` from now; False when another
    holder's lease is still current. Fenced by the caller's transaction (module docstring)."""
    now = db_now(conn)
    renewed = conn.execute(
        update(leases)
        .where(leases.c.name == name, or_(leases.c.holder == holder, leases.c.expires_at < now))
        .values(
            expires_at=now + seconds,
            # a takeover starts a new tenure; a renewal keeps the old start
            taken_at=case((leases.c.holder == holder, leases.c.taken_at), else_=now),
            holder=holder,
        )
    )
    if renewed.rowcount:
        return True
    values = {"name": name, "holder": holder, "expires_at": now + seconds, "taken_at": now}
    insert = (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(leases)
    # RETURNING, not the row count: SQLAlchemy does not keep an INSERT's count (-1 on
    # PostgreSQL, which read as "taken" while another replica held the lease).
    created = conn.execute(
        insert.values(**values)
        .on_conflict_do_nothing(index_elements=["name"])
        .returning(leases.c.name)
    )
    return created.first() is not None


@dataclass(frozen=True)
class Lease:
    name: str
    holder: str
    expires_in: float  # seconds; negative once expired
    held_for: float


def current(conn: Connection) -> list[Lease]:
    now = db_now(conn)
    rows = conn.execute(
        select(
            leases.c.name,
            leases.c.holder,
            (leases.c.expires_at - now).label("left"),
            (now - leases.c.taken_at).label("held"),
        ).order_by(leases.c.name)
    ).all()
    return [Lease(r.name, r.holder, float(r.left), float(r.held)) for r in rows]
