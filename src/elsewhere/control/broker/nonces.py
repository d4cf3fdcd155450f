"""Single-use attestation nonces with a short expiry, bound to one placement and one host.

Issuing a nonce writes nothing: it is 16 random bytes, the expiry time and a MAC over both and
the placement and host it was issued to, under a key derived from the key-encryption key.
Using it is what writes: the release transaction (control/broker/attest.py) inserts the nonce into
the spent-nonce table — a second use of the same nonce finds the row and is refused as a
replay, inside the same transaction as the release, so a nonce is spent exactly when a
decision is committed. Spent nonces are forgotten once they have expired anyway.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import struct

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

from elsewhere.control.store.tables import nonces
from elsewhere.timeutil import utcnow

RANDOM_BYTES = 16
MAC_BYTES = 24
NONCE_BYTES = RANDOM_BYTES + 8 + MAC_BYTES  # 48: within report_data binding's 16..64
DEFAULT_TTL = dt.timedelta(seconds=60)


class NonceIssuer:
    def __init__(self, key: bytes) -> None:
        self.key = hashlib.sha256(b"elsewhere.nonce-mac/1\x00" + key).digest()

    def _mac(self, head: bytes, placement_id: str, host_id: str) -> bytes:
        message = head + placement_id.encode() + b"\x00" + host_id.encode()
        return hmac.new(self.key, message, hashlib.sha256).digest()[:MAC_BYTES]

    def issue(
        self, placement_id: str, host_id: str, ttl: dt.timedelta = DEFAULT_TTL
    ) -> tuple[bytes, dt.datetime]:
        expires = utcnow() + ttl
        head = secrets.token_bytes(RANDOM_BYTES) + struct.pack(">Q", int(expires.timestamp()))
        return head + self._mac(head, placement_id, host_id), expires.replace(microsecond=0)

    def why_unusable(self, value: bytes, placement_id: str, host_id: str) -> str | None:
        """None if the nonce is authentic, for this keep and unexpired; else a reason."""
        if len(value) != NONCE_BYTES:
            return "nonce unknown (ask for a nonce for this placement first)"
        head, mac = value[:-MAC_BYTES], value[-MAC_BYTES:]
        if not hmac.compare_digest(mac, self._mac(head, placement_id, host_id)):
            return "nonce unknown (ask for a nonce for this placement first)"
        if expiry(value) <= utcnow():
            return "nonce expired (ask for a new one)"
        return None


def expiry(value: bytes) -> dt.datetime:
    (seconds,) = struct.unpack(">Q", value[RANDOM_BYTES : RANDOM_BYTES + 8])
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


# Inserts one row per nonce, or none for a nonce already spent (a replay): its row count says
# which; an executemany for a whole commit batch. PostgreSQL's INSERT construct, because
# SQLite compiles the same ON CONFLICT (value) DO NOTHING clause from it.
SPEND = postgresql.insert(nonces).on_conflict_do_nothing(index_elements=["value"])


def spent_row(value: bytes, placement_id: str, host_id: str) -> dict[str, object]:
    """The row SPEND inserts to record the nonce as spent."""
    return {
        "value": value.hex(),
        "placement_id": placement_id,
        "host_id": host_id,
        "expires_at": expiry(value),
        "consumed_at": utcnow(),
    }


def purge(conn: Connection) -> int:
    """Forget spent nonces that have expired: an expired nonce is refused by its MAC'd time."""
    done = conn.execute(delete(nonces).where(nonces.c.expires_at < utcnow()))
    return int(done.rowcount)
