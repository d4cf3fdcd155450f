"""A directory tree that behaves like configfs-tsm, for tests.

`FakeTsm` is a real directory (`root`) plus the behaviour the kernel adds: mkdir populates
the attribute files, a write to inblob / privlevel bumps `generation`, reading outblob runs
`generate(inblob, privlevel)`. Hooks let a test play a racing writer or a missing provider.
"""

from __future__ import annotations

import errno
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from elsewhere.attest.configfs import OsTsmFs

Generate = Callable[[bytes, int], bytes]


def snp_shaped(inblob: bytes, privlevel: int) -> bytes:
    """An unsigned 0x4A0-byte SNP-report-shaped blob: version 3, VMPL, REPORT_DATA at 0x50."""
    report = bytearray(0x4A0)
    report[0:4] = (3).to_bytes(4, "little")
    report[0x30:0x34] = privlevel.to_bytes(4, "little")
    report[0x50 : 0x50 + len(inblob)] = inblob
    return bytes(report)


@dataclass
class _Instance:
    inblob: bytes = b""
    privlevel: int = 0
    generation: int = 0


@dataclass
class FakeTsm(OsTsmFs):
    root: Path
    generate: Generate = snp_shaped
    provider: str | None = "sev_guest"
    auxblob: bytes | None = b""
    on_read_outblob: Callable[[FakeTsm, Path], None] | None = None
    instances: dict[Path, _Instance] = field(default_factory=dict)
    created: list[Path] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)

    def mkdir(self, path: Path) -> None:
        super().mkdir(path)
        self.instances[path] = _Instance()
        self.created.append(path)
        if self.provider is not None:
            (path / "provider").write_text(self.provider + "\n")
        if self.auxblob is not None:
            (path / "auxblob").write_bytes(b"")
        for name in ("inblob", "outblob", "privlevel"):
            (path / name).write_bytes(b"")
        (path / "privlevel_floor").write_text("0\n")
        self._sync(path)

    def rmdir(self, path: Path) -> None:
        # configfs removes the attributes with the directory
        self.instances.pop(path)
        shutil.rmtree(path)

    def write(self, path: Path, data: bytes) -> None:
        state = self.instances[path.parent]
        if path.name == "inblob":
            if len(data) > 64:
                raise OSError(errno.EINVAL, "Invalid argument")
            state.inblob = data
        elif path.name == "privlevel":
            value = int(data.decode().strip())
            if not 0 <= value <= 3:
                raise OSError(errno.EINVAL, "Invalid argument")
            state.privlevel = value
        else:
            raise OSError(errno.EACCES, "Permission denied")
        state.generation += 1
        super().write(path, data)
        self._sync(path.parent)

    def read(self, path: Path, limit: int) -> bytes:
        state = self.instances[path.parent]
        if path.name == "outblob":
            if self.on_read_outblob is not None:
                self.on_read_outblob(self, path.parent)
            path.write_bytes(self.generate(state.inblob, state.privlevel))
        elif path.name == "auxblob" and self.auxblob is not None:
            path.write_bytes(self.auxblob)
        return super().read(path, limit)

    def race(self, instance: Path, inblob: bytes) -> None:
        """Another writer replaces the inblob (what a racing process would do)."""
        self.write(instance / "inblob", inblob)

    def _sync(self, instance: Path) -> None:
        (instance / "generation").write_text(f"{self.instances[instance].generation}\n")
