"""The log's signing key on disk: one signer-key line, created owner-only (0600).

The file is written under a temporary name opened with O_CREAT|O_EXCL and mode 0600, then
linked into place, so the key never exists with wider permissions, a half-written key is
never visible, and two processes cannot both create it."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from elsewhere.errors import ConfigError, InputError
from elsewhere.ledger.note import ED25519, Signer


def create_key_file(path: Path, name: str, key_type: int = ED25519) -> Signer:
    """Generate an Ed25519 key named `name` and write it to `path`, which must not exist.
    `key_type` COSIGNATURE_V1 makes a witness key."""
    signer = Signer.generate(name, key_type)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(signer.skey() + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            raise ConfigError("signing key", str(path), "already exists; not overwritten") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    _sync_dir(path.parent)
    return signer


def load_key_file(path: Path) -> Signer:
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ConfigError("signing key", str(path), "not found") from None
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            "signing key",
            str(path),
            f"mode {stat.S_IMODE(info.st_mode):04o} lets others read it; chmod 600",
        )
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as error:
        raise InputError("signing key", str(path), f"unreadable: {error}") from None
    return Signer.parse(text)


def _sync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
