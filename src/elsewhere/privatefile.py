"""Files that hold private keys: written owner-only (0600), read only while still owner-only.

A key is written under a temporary name created with O_CREAT|O_EXCL and mode 0600, flushed to
disk, then linked into place (or renamed over the old one when overwriting is asked for). So a
key never exists with wider permissions, a half-written key is never visible, and when two
processes create the same key at once exactly one wins and both then read the winner's.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path

from elsewhere.errors import ConfigError, InputError


def write_private(path: Path, data: bytes, *, what: str, overwrite: bool = False) -> None:
    """Write `data` to `path` with mode 0600; refuse an existing file unless `overwrite`."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if overwrite:
            os.replace(temporary, path)
        else:
            try:
                os.link(temporary, path)
            except FileExistsError:
                raise ConfigError(what, str(path), "exists; refusing to overwrite") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    _sync_directory(path.parent)


MAX_PRIVATE_FILE = 16 * 1024  # keys are small; anything larger is not one of ours


def read_private(path: Path, *, what: str) -> bytes:
    """The bytes of a private file; refuse one that group or others may read."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ConfigError(what, str(path), "not found") from None
    except OSError as error:
        raise InputError(what, str(path), f"unreadable: {error.strerror}") from None
    if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_PRIVATE_FILE:
        raise ConfigError(what, str(path), "not a regular file of at most 16 KiB")
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise ConfigError(what, str(path), f"mode {mode:04o} lets others read it; chmod 600")
    try:
        return path.read_bytes()
    except OSError as error:
        raise InputError(what, str(path), f"unreadable: {error.strerror}") from None


def read_or_create_private(path: Path, make: Callable[[], bytes], *, what: str) -> bytes:
    """Read the private file at `path`, first creating it from `make()` if it is absent."""
    if not path.exists():
        try:
            write_private(path, make(), what=what)
        except ConfigError:
            if not path.exists():
                raise
            # Another process created it between our check and our link: read theirs.
    return read_private(path, what=what)


def _sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
