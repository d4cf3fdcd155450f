"""The log's signing key on disk: one signer-key line, created owner-only (0600) through
elsewhere.privatefile, so it never exists with wider permissions or half-written."""

from __future__ import annotations

from pathlib import Path

from elsewhere.errors import InputError
from elsewhere.ledger.note import ED25519, Signer
from elsewhere.privatefile import read_private, write_private


def create_key_file(path: Path, name: str, key_type: int = ED25519) -> Signer:
    """Generate an Ed25519 key named `name` and write it to `path`, which must not exist.
    `key_type` COSIGNATURE_V1 makes a witness key."""
    signer = Signer.generate(name, key_type)
    write_private(path, (signer.skey() + "\n").encode("ascii"), what="signing key")
    return signer


def load_key_file(path: Path) -> Signer:
    data = read_private(path, what="signing key")
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError as error:
        raise InputError("signing key", str(path), f"unreadable: {error}") from None
    return Signer.parse(text)
