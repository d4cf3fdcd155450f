"""Tenant HPKE key files, for results sealed to the tenant (`elsewhere results`).

A private key file is PEM-armoured (``ELSEWHERE HPKE PRIVATE KEY``) around
``"EWSK" | u8 version=1 | u16 kem_id | u16 kdf_id | u16 aead_id | secret (32 bytes)``; the
same bytes unarmoured are accepted as the raw form. Public keys use the tagged encoding of
`elsewhere.crypto.hpke` (PEM label ``ELSEWHERE HPKE PUBLIC KEY``, or raw).

Private key files are created with mode 0600 and never overwritten unless asked; loading
refuses a private key file that group or others can read.
"""

from __future__ import annotations

import base64
import binascii
import os
import stat
from pathlib import Path
from typing import Final

from elsewhere.crypto.hpke import (
    DEFAULT_SUITE,
    FORMAT_VERSION,
    HEADER,
    HpkeSuite,
    PrivateKey,
    PublicKey,
    parse_header,
)
from elsewhere.errors import ConfigError, ParseError
from elsewhere.privatefile import read_private, write_private

SECRET_MAGIC: Final = b"EWSK"
PRIVATE_LABEL: Final = "ELSEWHERE HPKE PRIVATE KEY"
PUBLIC_LABEL: Final = "ELSEWHERE HPKE PUBLIC KEY"
_MAX_FILE: Final = 16 << 10


def _armour(label: str, data: bytes) -> bytes:
    body = base64.encodebytes(data).decode().replace("\n", "")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return (
        "\n".join([f"-----BEGIN {label}-----", *lines, f"-----END {label}-----"]) + "\n"
    ).encode()


def _dearmour(label: str, data: bytes, where: str) -> bytes:
    """Return the bytes inside a PEM block with `label`, or `data` unchanged when not PEM."""
    begin = f"-----BEGIN {label}-----".encode()
    if not data.lstrip().startswith(b"-----BEGIN"):
        return data
    text = data.strip()
    end = f"-----END {label}-----".encode()
    if not text.startswith(begin) or not text.endswith(end):
        raise ParseError("key file", where, f"PEM block is not a {label}")
    try:
        return base64.b64decode(b"".join(text[len(begin) : -len(end)].split()), validate=True)
    except (binascii.Error, ValueError):
        raise ParseError("key file", where, "PEM body is not valid base64") from None


class TenantKey(PrivateKey):
    """A tenant's long-lived HPKE key pair, stored in a 0600 file."""

    __slots__ = ()

    def private_encoding(self) -> bytes:
        """The raw private-key encoding (module docstring)."""
        header = HEADER.pack(SECRET_MAGIC, FORMAT_VERSION, *self.suite.ids())
        return header + self.secret_bytes()

    def save(self, path: Path, *, pem: bool = True, overwrite: bool = False) -> None:
        """Write the private key to `path` with mode 0600 (PEM unless `pem=False`)."""
        data = self.private_encoding()
        if pem:
            data = _armour(PRIVATE_LABEL, data)
        write_private(path, data, what="key file", overwrite=overwrite)

    def save_public(self, path: Path, *, pem: bool = True) -> None:
        """Write the tagged public key to `path` (PEM unless `pem=False`)."""
        data = self.public_bytes()
        path.write_bytes(_armour(PUBLIC_LABEL, data) if pem else data)

    @classmethod
    def from_private_encoding(cls, data: bytes, where: str = "key") -> TenantKey:
        suite: HpkeSuite = parse_header("HPKE private key", data, SECRET_MAGIC)
        if len(data) != HEADER.size + suite.secret_len:
            raise ParseError(
                "HPKE private key", where, f"{len(data)} bytes, expected {11 + suite.secret_len}"
            )
        return cls(suite, data[HEADER.size :])

    @classmethod
    def load(cls, path: Path) -> TenantKey:
        """Read a private key file (PEM or raw); refuse one readable by group or others."""
        data = _dearmour(PRIVATE_LABEL, read_private(path, what="key file"), str(path))
        return cls.from_private_encoding(data, str(path))

    @classmethod
    def create(cls, path: Path, suite: HpkeSuite = DEFAULT_SUITE) -> TenantKey:
        """Generate a key and save it at `path` (refusing to overwrite)."""
        key = cls.generate(suite)
        key.save(path)
        return key


def _stat(path: Path) -> os.stat_result:
    try:
        info = path.stat()
    except OSError as error:
        raise ConfigError("key file", str(path), error.strerror or "cannot be read") from None
    if not stat.S_ISREG(info.st_mode) or info.st_size > _MAX_FILE:
        raise ConfigError("key file", str(path), "not a regular file of at most 16 KiB")
    return info


def load_public_key(path: Path) -> PublicKey:
    """Read a public key file written by `TenantKey.save_public` (PEM or raw)."""
    _stat(path)
    return PublicKey.parse(_dearmour(PUBLIC_LABEL, path.read_bytes(), str(path)))
