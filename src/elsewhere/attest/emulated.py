"""Emulated attesters over the emulated platforms of elsewhere.evidence (development and
tests only: the evidence they produce gives no hardware protection and says so)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from elsewhere.attest.base import Attester, AttesterKind, AttestError


def make_emulated(kind: AttesterKind, state_dir: Path | None, **options: Any) -> Attester:
    """The emulated attester for `kind` ("emulated-snp" or "emulated-tdx")."""
    raise AttestError(f"{kind.value} attester is not available in this build yet")
