"""Picking an attester by kind: `make_attester`. It imports every attester module; they
import only `elsewhere.attest.base`, so there is no cycle and no import inside a function."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from elsewhere.attest.base import Attester, AttesterKind
from elsewhere.attest.configfs import ConfigfsAttester
from elsewhere.attest.emulated import make_emulated
from elsewhere.attest.nil import NilAttester
from elsewhere.errors import ConfigError


def make_attester(kind: str, state_dir: Path | None = None, **options: Any) -> Attester:
    """The attester for `kind` (an AttesterKind value).

    `state_dir` holds persistent state of emulated platforms (their keys), so a host keeps
    one emulated identity across restarts. Options: for ``sev-snp`` / ``tdx``,
    ``configfs_root`` (default /sys/kernel/config/tsm/report), ``privlevel`` (SNP VMPL),
    ``fs`` (a TsmFs, for tests); emulated kinds pass their options to the emulator.
    """
    try:
        which = AttesterKind(kind)
    except ValueError:
        raise ConfigError(
            "attester", repr(kind), f"unknown kind; use one of {', '.join(AttesterKind)}"
        ) from None
    if which is AttesterKind.NIL:
        _no_options(which, options)
        return NilAttester()
    if which in (AttesterKind.SEV_SNP, AttesterKind.TDX):
        return ConfigfsAttester(which, **options)
    return make_emulated(which, state_dir, **options)


def _no_options(kind: AttesterKind, options: dict[str, Any]) -> None:
    if options:
        raise ConfigError("attester", kind.value, f"takes no options, got {sorted(options)}")
