"""What one keep runs and what its workload may see: `KeepConfig`, which crosses the
host / keep boundary, and the rule for secret names (plain file names under /secrets)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

from elsewhere.errors import ConfigError
from elsewhere.keep.limits import KeepLimits

SECRETS_GUEST_DIR: Final = "/secrets"
_SECRET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


@dataclass(frozen=True)
class KeepConfig:
    """What one keep runs and what the workload may see. Crosses the host/keep boundary.

    `workload_digest` is the SHA-384 the module bytes must have (bound in report_data).
    `secret_names` lists the files the workload will find under /secrets (contents arrive
    separately, sealed to the keep key). `attester_kind` names how the keep attests.
    """

    workload_digest: bytes
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    limits: KeepLimits = field(default_factory=KeepLimits)
    secret_names: tuple[str, ...] = ()
    attester_kind: str = "nil"
    program_name: str = "workload"

    def __post_init__(self) -> None:
        if not isinstance(self.workload_digest, bytes) or len(self.workload_digest) != 48:
            raise ConfigError("keep config", "workload_digest", "must be 48 bytes (SHA-384)")
        object.__setattr__(self, "args", tuple(self.args))
        object.__setattr__(self, "secret_names", tuple(self.secret_names))
        object.__setattr__(self, "env", MappingProxyType(dict(self.env)))
        if "\0" in self.program_name:
            raise ConfigError("keep config", "program_name", "contains a NUL character")
        for index, arg in enumerate(self.args):
            if "\0" in arg:
                raise ConfigError("keep config", f"args[{index}]", "contains a NUL character")
        for name, value in self.env.items():
            if not name or "=" in name or "\0" in name or "\0" in value:
                raise ConfigError("keep config", f"env {name!r}", "invalid name or value")
        for name in self.secret_names:
            check_secret_name(name)
        if len(set(self.secret_names)) != len(self.secret_names):
            raise ConfigError("keep config", "secret_names", "duplicate secret name")

    @property
    def preopens(self) -> tuple[tuple[str, str], ...]:
        """(guest path, access) of every directory the workload can open."""
        return ((SECRETS_GUEST_DIR, "read-only"),) if self.secret_names else ()

    def to_json(self) -> dict[str, Any]:
        return {
            "workload_digest": self.workload_digest.hex(),
            "args": list(self.args),
            "env": sorted(self.env),  # names only: values may be sensitive
            "limits": self.limits.to_json(),
            "secret_names": list(self.secret_names),
            "attester_kind": self.attester_kind,
            "preopens": [{"guest_path": p, "access": a} for p, a in self.preopens],
        }


def check_secret_name(name: str) -> str:
    """A secret name is a plain file name: letters, digits, '.', '_', '-', at most 128."""
    if not isinstance(name, str) or not _SECRET_NAME.fullmatch(name):
        raise ConfigError(
            "secret name", repr(name), "use 1-128 of A-Z a-z 0-9 . _ - (not starting with . - _)"
        )
    return name
