"""Single-use attestation nonces with a short expiry, bound to one placement and one host.

A nonce is consumed by a conditional UPDATE inside the release transaction (control/attest.py):
the row changes only if it is unconsumed, unexpired and issued to this placement and host, so
two concurrent submissions of the same evidence cannot both succeed and a replay is refused.
"""

from __future__ import annotations

import datetime as dt
import secrets

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Connection

from elsewhere.control.db import nonces
from elsewhere.timeutil import utcnow

NONCE_BYTES = 32
DEFAULT_TTL = dt.timedelta(seconds=60)


def issue(
    conn: Connection, placement_id: str, host_id: str, ttl: dt.timedelta = DEFAULT_TTL
) -> tuple[bytes, dt.datetime]:
    value = secrets.token_bytes(NONCE_BYTES)
    expires = utcnow() + ttl
    conn.execute(
        nonces.insert().values(
            value=value.hex(), placement_id=placement_id, host_id=host_id, expires_at=expires
        )
    )
    return value, expires


def why_unusable(conn: Connection, value: bytes, placement_id: str, host_id: str) -> str | None:
    """None if the nonce can be consumed now, else a one-line reason (read-only check)."""
    row = conn.execute(select(nonces).where(nonces.c.value == value.hex())).first()
    if row is None or row.placement_id != placement_id or row.host_id != host_id:
        return "nonce unknown (ask for a nonce for this placement first)"
    if row.consumed_at is not None:
        return "nonce already used (replay refused)"
    if row.expires_at <= utcnow():
        return "nonce expired (ask for a new one)"
    return None


def consume(conn: Connection, value: bytes, placement_id: str, host_id: str) -> bool:
    """Mark the nonce used; False if it was not usable (unknown, used, expired, other keep)."""
    now = utcnow()
    done = conn.execute(
        update(nonces)
        .where(
            nonces.c.value == value.hex(),
            nonces.c.placement_id == placement_id,
            nonces.c.host_id == host_id,
            nonces.c.consumed_at.is_(None),
            nonces.c.expires_at > now,
        )
        .values(consumed_at=now)
    )
    return done.rowcount == 1


def purge(conn: Connection, older_than: dt.timedelta = dt.timedelta(hours=1)) -> int:
    """Forget nonces that expired long ago (a used nonce can never be used again either way)."""
    done = conn.execute(delete(nonces).where(nonces.c.expires_at < utcnow() - older_than))
    return int(done.rowcount)
