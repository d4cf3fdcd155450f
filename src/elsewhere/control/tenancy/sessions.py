"""Web console sessions: opaque, server-side, stored as hashes.

Signing in with a token opens a session: the browser gets 256 random bits in an HttpOnly,
SameSite=Strict cookie (never the token), the database keeps SHA-256 of them, the credential
they act as, a CSRF token for the session's forms and an absolute expiry. Every worker process
sees the same sessions (they are rows, not memory); signing out deletes the row, and revoking
the credential ends every session opened with it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.engine import Connection

from elsewhere.control.store.tables import console_sessions, credentials
from elsewhere.control.tenancy.auth import Credential, Kind
from elsewhere.errors import Unauthenticated
from elsewhere.i18n import N_
from elsewhere.timeutil import utcnow

SESSION_LIFETIME = dt.timedelta(hours=8)  # absolute: a session is not extended by use
MAX_COOKIE = 100  # a session cookie is 43 characters; anything far longer is not one


@dataclass(frozen=True)
class Session:
    credential: Credential
    csrf: str
    expires_at: dt.datetime


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode("ascii", "replace")).hexdigest()


def open_session(conn: Connection, credential: Credential) -> tuple[str, Session]:
    """A new session for `credential`: the cookie value (shown once) and the session."""
    now = utcnow()
    conn.execute(delete(console_sessions).where(console_sessions.c.expires_at <= now))
    cookie = secrets.token_urlsafe(32)
    session = Session(credential, secrets.token_urlsafe(32), now + SESSION_LIFETIME)
    conn.execute(
        console_sessions.insert().values(
            id_hash=_hash(cookie),
            credential_id=credential.id,
            csrf=session.csrf,
            created_at=now,
            expires_at=session.expires_at,
        )
    )
    return cookie, session


def find_session(conn: Connection, cookie: str | None) -> Session:
    """The live session of a cookie; Unauthenticated saying why when there is none."""
    if not cookie:
        raise Unauthenticated(N_("not signed in: sign in at /ui/signin with your token"))
    if len(cookie) > MAX_COOKIE:
        raise Unauthenticated(N_("session cookie malformed: sign in again at /ui/signin"))
    digest = _hash(cookie)
    row = conn.execute(
        select(
            console_sessions.c.id_hash,
            console_sessions.c.csrf,
            console_sessions.c.expires_at,
            credentials.c.id,
            credentials.c.kind,
            credentials.c.subject,
            credentials.c.name,
            credentials.c.revoked_at,
        )
        .join(credentials, credentials.c.id == console_sessions.c.credential_id)
        .where(console_sessions.c.id_hash == digest)
    ).first()
    if row is None or not hmac.compare_digest(row.id_hash, digest):
        raise Unauthenticated(N_("session unknown or signed out: sign in again at /ui/signin"))
    if row.expires_at <= utcnow():
        raise Unauthenticated(N_("session expired: sign in again at /ui/signin"))
    if row.revoked_at is not None:
        raise Unauthenticated(N_("the token this session was opened with is revoked"))
    credential = Credential(id=row.id, kind=Kind(row.kind), subject=row.subject, name=row.name)
    return Session(credential, row.csrf, row.expires_at)


def close_session(conn: Connection, cookie: str) -> None:
    conn.execute(delete(console_sessions).where(console_sessions.c.id_hash == _hash(cookie)))
