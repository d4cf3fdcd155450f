"""API credentials: 256-bit random bearer tokens, stored only as SHA-256 hashes.

A token is shown once, when it is created. The database holds SHA-256(token): for a token with
256 bits of entropy a plain hash is enough (no password stretching needed), and the lookup
compares hashes in constant time. The prefix names the kind so a leaked token is recognisable:
`ewt_` tenant, `ewh_` host, `ewo_` operator.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from elsewhere.control.store.ids import new_id
from elsewhere.control.store.tables import credentials
from elsewhere.errors import InputError
from elsewhere.timeutil import iso, utcnow


class Kind(StrEnum):
    TENANT = "tenant"
    HOST = "host"
    OPERATOR = "operator"


PREFIX = {Kind.TENANT: "ewt_", Kind.HOST: "ewh_", Kind.OPERATOR: "ewo_"}


@dataclass(frozen=True)
class Credential:
    id: str
    kind: Kind
    subject: str | None
    name: str


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token(kind: Kind) -> str:
    raw = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode("ascii")
    return PREFIX[kind] + raw


def create_credential(conn: Connection, kind: Kind, name: str, subject: str | None = None) -> str:
    """Store a new credential and return its token (the only time it exists in clear).
    A tenant credential names its tenant (`subject`); host and operator ones need none."""
    if kind is Kind.TENANT and subject is None:
        raise ValueError("a tenant credential needs the tenant it belongs to")
    token = new_token(kind)
    conn.execute(
        credentials.insert().values(
            id=new_id("cred"),
            kind=kind.value,
            subject=subject,
            token_hash=hash_token(token),
            name=name,
            created_at=utcnow(),
        )
    )
    return token


def authenticate(conn: Connection, token: str) -> Credential | None:
    """The live credential a bearer token belongs to, or None."""
    if not token or len(token) > 200:
        return None
    digest = hash_token(token)
    row = conn.execute(
        select(credentials).where(
            credentials.c.token_hash == digest, credentials.c.revoked_at.is_(None)
        )
    ).first()
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        return None
    return Credential(id=row.id, kind=Kind(row.kind), subject=row.subject, name=row.name)


def list_credentials(conn: Connection) -> list[dict[str, Any]]:
    """Every credential, without its hash: id, kind, name, subject, created, revoked."""
    rows = conn.execute(select(credentials).order_by(credentials.c.created_at)).all()
    return [
        {
            "id": r.id,
            "kind": r.kind,
            "name": r.name,
            "subject": r.subject,
            "created_at": iso(r.created_at),
            "revoked_at": iso(r.revoked_at) if r.revoked_at else None,
        }
        for r in rows
    ]


def revoke_credential(conn: Connection, credential_id: str) -> str:
    """Revoke one credential; its token stops working within the API's cache time (5 s).
    Returns "revoked" or "already revoked"; InputError when there is no such credential."""
    row = conn.execute(
        select(credentials.c.revoked_at).where(credentials.c.id == credential_id)
    ).first()
    if row is None:
        raise InputError(
            "credential", credential_id, "no such credential (see `elsewhere token list`)"
        )
    if row.revoked_at is not None:
        return "already revoked"
    conn.execute(
        update(credentials).where(credentials.c.id == credential_id).values(revoked_at=utcnow())
    )
    return "revoked"
