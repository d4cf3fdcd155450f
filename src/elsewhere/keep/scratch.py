"""A keep's scratch directory: where its stdin and plaintext secrets live while it runs.

`/dev/shm/elsewhere-keep-<agent pid>-<random>/` (the system temporary directory when
/dev/shm is not writable): mode 0700, holding `stdin`, `secrets/<name>` (0400) and `.lock`.
In a confidential VM /dev/shm is guest memory (encrypted by the TEE), not host disk.

The host-side process that made it holds an exclusive `flock` on `.lock` until it removes the
directory; the kernel drops that lock when the process dies however it dies (SIGKILL, a
crash). `sweep_leftovers` (run when a host agent starts) removes the directories nobody holds
any more: name prefix, owned by this uid, a real directory (not a symlink), lock free.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from elsewhere.keep.config import check_secret_name
from elsewhere.keep.limits import KeepLimits
from elsewhere.keep.result import KeepError

PREFIX: Final = "elsewhere-keep-"
LOCK_NAME: Final = ".lock"
# The lock is taken right after mkdtemp; a directory without one that is older than this is
# a leftover (an agent from before the lock, or one that died between the two calls).
UNLOCKED_GRACE_S: Final = 60.0


def scratch_base() -> Path:
    shm = "/dev/shm"
    if os.path.isdir(shm) and os.access(shm, os.W_OK):
        return Path(shm)
    return Path(tempfile.gettempdir())


class Scratch:
    """One keep's directory, locked while it exists. `close()` removes it (idempotent)."""

    def __init__(self, base: Path | None = None) -> None:
        where = base or scratch_base()
        self.root = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=where))
        self._lock: int | None = os.open(
            self.root / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600
        )
        fcntl.flock(self._lock, fcntl.LOCK_EX)

    @property
    def secrets(self) -> Path:
        return self.root / "secrets"

    @property
    def stdin(self) -> Path:
        return self.root / "stdin"

    def stage(self, stdin: bytes, secrets: Mapping[str, bytes], limits: KeepLimits) -> None:
        """Write stdin and, when there are any, the secrets (directory 0700, files 0400)."""
        self.stdin.write_bytes(stdin)
        if not secrets:
            return
        self.secrets.mkdir(mode=0o700)
        for name, value in secrets.items():
            check_secret_name(name)
            if len(value) > limits.max_secret_bytes:
                raise KeepError(f"secret {name!r} of {len(value)} bytes exceeds the limit")
            fd = os.open(self.secrets / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
            with os.fdopen(fd, "wb") as out:
                out.write(value)

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
        if self._lock is not None:
            os.close(self._lock)  # only now: a sweeper must not see it free while it exists
            self._lock = None

    def __enter__(self) -> Scratch:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _abandoned(path: Path, status: os.stat_result) -> bool:
    try:
        fd = os.open(path / LOCK_NAME, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return time.time() - status.st_mtime > UNLOCKED_GRACE_S
    except OSError:
        return False  # a lock we cannot open (a symlink, no permission): leave it
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False  # its keep is running
    finally:
        os.close(fd)
    return True


def sweep_leftovers(base: Path | None = None) -> list[Path]:
    """Remove the scratch directories of keeps whose host-side process is gone; return them.

    Only directories this uid owns, with the prefix, not symlinks, and no live lock holder.
    """
    where = base or scratch_base()
    removed = []
    with contextlib.suppress(FileNotFoundError), os.scandir(where) as entries:
        for entry in entries:
            if not entry.name.startswith(PREFIX):
                continue
            try:
                status = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            if not stat.S_ISDIR(status.st_mode) or status.st_uid != os.getuid():
                continue
            path = Path(entry.path)
            if _abandoned(path, status):
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
    return removed
