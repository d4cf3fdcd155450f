"""Real hardware evidence through Linux configfs-tsm (Documentation/ABI/testing/configfs-tsm).

One report instance per request, so concurrent requesters do not share state:

1. ``mkdir <root>/<unique name>`` (the kernel populates the attributes);
2. read ``provider`` ("sev_guest" or "tdx_guest") and check it is the expected one;
3. read ``generation`` (G), write ``privlevel`` (optional, SNP VMPL) and ``inblob`` (64 bytes);
4. read ``outblob`` (the report / quote) and ``auxblob`` (SNP certificate table, optional);
5. read ``generation`` again: it must be G + the number of writes, otherwise another writer
   changed the options between our write and our read and the outblob may answer *their*
   inblob — refuse;
6. ``rmdir`` the instance.

All file access goes through a `TsmFs`, so tests can drive a directory tree that behaves
like configfs.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from pathlib import Path
from typing import Final, Protocol

from elsewhere.attest.base import AttesterKind, AttestError, Evidence, check_report_data
from elsewhere.errors import ConfigError

DEFAULT_ROOT: Final = Path("/sys/kernel/config/tsm/report")
PROVIDERS: Final = {AttesterKind.SEV_SNP: "sev_guest", AttesterKind.TDX: "tdx_guest"}
FORMATS: Final = {AttesterKind.SEV_SNP: "sev-snp-report", AttesterKind.TDX: "tdx-dcap-quote"}
OUTBLOB_MAX: Final = 32 << 10  # TSM_OUTBLOB_MAX
AUXBLOB_MAX: Final = 1 << 20
SMALL_MAX: Final = 256


class TsmFs(Protocol):
    """The file operations configfs-tsm needs."""

    def mkdir(self, path: Path) -> None: ...
    def rmdir(self, path: Path) -> None: ...
    def exists(self, path: Path) -> bool: ...
    def read(self, path: Path, limit: int) -> bytes: ...
    def write(self, path: Path, data: bytes) -> None: ...


class OsTsmFs:
    """The real configfs: each attribute is read and written with single system calls."""

    def mkdir(self, path: Path) -> None:
        os.mkdir(path, 0o700)

    def rmdir(self, path: Path) -> None:
        os.rmdir(path)

    def exists(self, path: Path) -> bool:
        return path.exists()

    def read(self, path: Path, limit: int) -> bytes:
        fd = os.open(path, os.O_RDONLY)
        try:
            chunks, size = [], 0
            while size <= limit:
                chunk = os.read(fd, limit + 1 - size)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
            return b"".join(chunks)
        finally:
            os.close(fd)

    def write(self, path: Path, data: bytes) -> None:
        fd = os.open(path, os.O_WRONLY)
        try:
            if os.write(fd, data) != len(data):
                raise OSError(errno.EIO, "short write")
        finally:
            os.close(fd)


class ConfigfsAttester:
    """Hardware attester for ``sev-snp`` or ``tdx`` through configfs-tsm."""

    def __init__(
        self,
        kind: AttesterKind,
        *,
        configfs_root: Path | str = DEFAULT_ROOT,
        privlevel: int | None = None,
        fs: TsmFs | None = None,
    ) -> None:
        if kind not in PROVIDERS:
            raise ConfigError("attester", kind.value, "configfs-tsm serves sev-snp or tdx only")
        if privlevel is not None and not (isinstance(privlevel, int) and 0 <= privlevel <= 3):
            raise ConfigError("attester", "privlevel", f"{privlevel!r} is not 0..3")
        self._kind = kind
        self.root = Path(configfs_root)
        self.privlevel = privlevel
        self.fs: TsmFs = fs or OsTsmFs()

    @property
    def kind(self) -> str:
        return self._kind.value

    def attest(self, report_data: bytes) -> Evidence:
        inblob = check_report_data(report_data)
        if not self.fs.exists(self.root):
            raise AttestError(
                f"configfs-tsm: {self.root} not found; mount configfs "
                "(mount -t configfs none /sys/kernel/config) and load the sev-guest or "
                "tdx-guest driver inside the confidential VM"
            )
        instance = self.root / f"elsewhere-{os.getpid()}-{secrets.token_hex(8)}"
        try:
            self.fs.mkdir(instance)
        except OSError as error:
            raise AttestError(f"configfs-tsm: cannot create {instance}: {_why(error)}") from None
        try:
            return self._attest(instance, inblob)
        finally:
            # A leftover instance holds no secret (only our public report_data).
            with contextlib.suppress(OSError):
                self.fs.rmdir(instance)

    def _attest(self, instance: Path, inblob: bytes) -> Evidence:
        provider = self._read_text(instance / "provider", "provider")
        if not provider:
            raise AttestError(
                f"configfs-tsm: {instance / 'provider'} is missing or empty: no TSM provider "
                "is registered (is the sev-guest or tdx-guest driver loaded?)"
            )
        expected = PROVIDERS[self._kind]
        if provider != expected:
            raise AttestError(
                f"configfs-tsm: provider is {provider!r}, the {self.kind} attester needs "
                f"{expected!r}"
            )
        before = self._generation(instance)
        writes = 0
        if self.privlevel is not None:
            self._write(instance / "privlevel", f"{self.privlevel}\n".encode())
            writes += 1
        self._write(instance / "inblob", inblob)
        writes += 1
        outblob = self._read(instance / "outblob", OUTBLOB_MAX, "outblob")
        aux = b""
        if self.fs.exists(instance / "auxblob"):
            aux = self._read(instance / "auxblob", AUXBLOB_MAX, "auxblob")
        after = self._generation(instance)
        if after != before + writes:
            raise AttestError(
                f"configfs-tsm: generation went from {before} to {after} around {writes} "
                "write(s): another writer changed the request, so the report may not carry "
                "our report_data; retry"
            )
        if not outblob:
            raise AttestError(f"configfs-tsm: {instance / 'outblob'} is empty")
        return Evidence(
            kind=self.kind,
            format=FORMATS[self._kind],
            evidence=outblob,
            aux=aux,
            provider=provider,
            emulated=False,
            report_data=inblob,
        )

    def _read(self, path: Path, limit: int, what: str) -> bytes:
        try:
            data = self.fs.read(path, limit)
        except OSError as error:
            raise AttestError(f"configfs-tsm: cannot read {what}: {_why(error)}") from None
        if len(data) > limit:
            raise AttestError(f"configfs-tsm: {what} is larger than {limit} bytes")
        return data

    def _read_text(self, path: Path, what: str) -> str:
        if not self.fs.exists(path):
            return ""
        return self._read(path, SMALL_MAX, what).decode("ascii", "replace").strip()

    def _generation(self, instance: Path) -> int:
        text = self._read_text(instance / "generation", "generation")
        if not text.isdigit():
            raise AttestError(f"configfs-tsm: generation {text!r} is not a number")
        return int(text)

    def _write(self, path: Path, data: bytes) -> None:
        try:
            self.fs.write(path, data)
        except OSError as error:
            raise AttestError(f"configfs-tsm: cannot write {path.name}: {_why(error)}") from None


def _why(error: OSError) -> str:
    return error.strerror or str(error)
