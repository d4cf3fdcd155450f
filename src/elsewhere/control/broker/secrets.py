"""Tenant secrets at rest: AES-256-GCM envelope encryption under a key kept outside the database.

The key-encryption key (KEK) is 32 bytes from `ELSEWHERE_KEK` (base64) or from the file `kek` in
the control plane's data directory (created on first use, mode 0600; refused if group or others
can read it). Each secret gets a fresh random 256-bit data key:

    ciphertext  = nonce1 ‖ AES-256-GCM(data key, nonce1, value,    aad)
    wrapped_key = nonce2 ‖ AES-256-GCM(KEK,      nonce2, data key, aad)
    aad         = "elsewhere.secret/1" ‖ 0x00 ‖ tenant id ‖ 0x00 ‖ secret id

so a ciphertext copied to another tenant's or another secret's row does not decrypt. The values
never reach the database, a log line or an error message in clear; they leave the control plane
only wrapped with HPKE to an attested keep's key (control/broker/attest.py).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets as random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.engine import Connection

from elsewhere.control.store.ids import new_id
from elsewhere.control.store.tables import secrets as secrets_table
from elsewhere.errors import ConfigError, ElsewhereError, InputError
from elsewhere.i18n import N_
from elsewhere.privatefile import read_or_create_private
from elsewhere.timeutil import iso, utcnow

KEK_ENV = "ELSEWHERE_KEK"
KEK_FILE = "kek"
AAD_LABEL = b"elsewhere.secret/1"
NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
MAX_SECRET_BYTES = 64 * 1024


class SecretUnavailable(ElsewhereError):
    """A stored secret that cannot be decrypted (wrong KEK, damaged row)."""


def kek_id(key: bytes) -> str:
    """A short fingerprint naming a KEK, stored beside each secret (not secret itself)."""
    return hashlib.sha256(b"elsewhere.kek-id\x00" + key).hexdigest()[:16]


@dataclass(frozen=True)
class Kek:
    """`key` wraps new secrets; `older` (a key directory's earlier KEKs) still unwrap."""

    key: bytes
    older: tuple[bytes, ...] = ()

    @property
    def id(self) -> str:
        return kek_id(self.key)

    def unwrapping(self, wrapped_under: str) -> bytes | None:
        """The key a row stored under KEK id `wrapped_under` needs, if this KEK set has it."""
        return next((k for k in (self.key, *self.older) if kek_id(k) == wrapped_under), None)


def load_kek(data_dir: Path) -> Kek:
    """The KEK from the environment, else the data directory's key file (created if absent)."""
    configured = os.environ.get(KEK_ENV)
    if configured:
        try:
            key = base64.b64decode(configured, validate=True)
        except (binascii.Error, ValueError):
            raise ConfigError(KEK_ENV, "value", "not base64") from None
        if len(key) != 32:
            raise ConfigError(KEK_ENV, "value", f"decodes to {len(key)} bytes, expected 32")
        return Kek(key)
    path = data_dir / KEK_FILE
    key = read_or_create_private(path, lambda: random.token_bytes(32), what="key-encryption key")
    if len(key) != 32:
        raise ConfigError(str(path), "length", f"{len(key)} bytes, expected 32")
    return Kek(key)


def _aad(tenant_id: str, secret_id: str) -> bytes:
    return b"\x00".join((AAD_LABEL, tenant_id.encode(), secret_id.encode()))


def _seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = random.token_bytes(12)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def _open(key: bytes, blob: bytes, aad: bytes) -> bytes:
    return AESGCM(key).decrypt(blob[:12], blob[12:], aad)


def check_name(name: str) -> str:
    if not name or len(name) > 100 or not set(name) <= NAME_CHARS or name.startswith("."):
        raise InputError(
            "secret name", repr(name)[:60], "use 1-100 of A-Z a-z 0-9 . _ - (not starting with .)"
        )
    return name


def put_secret(conn: Connection, kek: Kek, tenant_id: str, name: str, value: bytes) -> str:
    """Store (or replace) a tenant's secret; returns its id. A replaced secret gets a new id."""
    check_name(name)
    if not value:
        raise InputError("secret", name, N_("the value is empty"))
    if len(value) > MAX_SECRET_BYTES:
        raise InputError(
            "secret", name, N_("larger than {limit} bytes").format(limit=MAX_SECRET_BYTES)
        )
    conn.execute(
        delete(secrets_table).where(
            secrets_table.c.tenant_id == tenant_id, secrets_table.c.name == name
        )
    )
    secret_id = new_id("sec")
    aad = _aad(tenant_id, secret_id)
    data_key = AESGCM.generate_key(bit_length=256)
    conn.execute(
        secrets_table.insert().values(
            id=secret_id,
            tenant_id=tenant_id,
            name=name,
            kek_id=kek.id,
            wrapped_key=_seal(kek.key, data_key, aad),
            ciphertext=_seal(data_key, value, aad),
            created_at=utcnow(),
        )
    )
    return secret_id


def list_secrets(conn: Connection, tenant_id: str) -> list[dict[str, str]]:
    rows = conn.execute(
        select(secrets_table.c.id, secrets_table.c.name, secrets_table.c.created_at)
        .where(secrets_table.c.tenant_id == tenant_id)
        .order_by(secrets_table.c.name)
    ).all()
    return [{"id": r.id, "name": r.name, "created_at": iso(r.created_at)} for r in rows]


def delete_secret(conn: Connection, tenant_id: str, name: str) -> str | None:
    """Delete a tenant's secret; its id, or None when it has none of that name."""
    found = conn.execute(
        select(secrets_table.c.id).where(
            secrets_table.c.tenant_id == tenant_id, secrets_table.c.name == name
        )
    ).scalar()
    if found is None:
        return None
    conn.execute(delete(secrets_table).where(secrets_table.c.id == found))
    return str(found)


def missing_secrets(conn: Connection, tenant_id: str, names: list[str]) -> list[str]:
    have = set(
        conn.execute(
            select(secrets_table.c.name).where(
                secrets_table.c.tenant_id == tenant_id, secrets_table.c.name.in_(names)
            )
        ).scalars()
    )
    return [n for n in names if n not in have]


_SEALED = select(secrets_table).where(
    secrets_table.c.tenant_id == bindparam("tenant"),
    secrets_table.c.name.in_(bindparam("names", expanding=True)),
)


def sealed_secrets(conn: Connection, tenant_id: str, names: list[str]) -> list[Any]:
    """The named secrets' rows, still encrypted (read early; opened only on release)."""
    if not names:
        return []
    return list(conn.execute(_SEALED, {"tenant": tenant_id, "names": names}).all())


def open_secrets(kek: Kek, rows: list[Any], names: list[str]) -> dict[str, bytes]:
    """Decrypt rows from `sealed_secrets`; every name in `names` must be there."""
    out: dict[str, bytes] = {}
    for row in rows:
        key = kek.unwrapping(row.kek_id)
        if key is None:
            raise SecretUnavailable(f"secret {row.name}: stored under another key-encryption key")
        aad = _aad(row.tenant_id, row.id)
        try:
            out[row.name] = _open(_open(key, row.wrapped_key, aad), row.ciphertext, aad)
        except InvalidTag:
            raise SecretUnavailable(f"secret {row.name}: does not decrypt (damaged)") from None
    missing = [n for n in names if n not in out]
    if missing:
        raise SecretUnavailable(f"secrets missing: {', '.join(missing)}")
    return out


def rewrap_secrets(conn: Connection, kek: Kek) -> tuple[int, list[str]]:
    """Wrap every secret's data key under the current KEK (`keys rewrap`): (how many were
    re-wrapped, the ids of secrets under a KEK this set does not hold). The value itself is
    not re-encrypted: only the data key's wrapping changes, so it is one short UPDATE each."""
    rows = conn.execute(
        select(
            secrets_table.c.id,
            secrets_table.c.tenant_id,
            secrets_table.c.kek_id,
            secrets_table.c.wrapped_key,
        ).where(secrets_table.c.kek_id != kek.id)
    ).all()
    done, unknown = 0, []
    for row in rows:
        key = kek.unwrapping(row.kek_id)
        if key is None:
            unknown.append(str(row.id))
            continue
        aad = _aad(row.tenant_id, row.id)
        try:
            data_key = _open(key, row.wrapped_key, aad)
        except InvalidTag:
            unknown.append(str(row.id))
            continue
        changed = conn.execute(
            update(secrets_table)
            .where(secrets_table.c.id == row.id, secrets_table.c.kek_id == row.kek_id)
            .values(kek_id=kek.id, wrapped_key=_seal(kek.key, data_key, aad))
        )
        done += changed.rowcount
    return done, unknown
