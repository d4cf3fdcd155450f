"""Attesters: how a keep obtains evidence binding its report_data (base: Evidence, the
Attester protocol; registry: make_attester; nil; configfs for SEV-SNP / TDX hardware;
emulated)."""

from elsewhere.attest.base import (
    Attester,
    AttesterKind,
    AttestError,
    CannotAttest,
    Evidence,
    probe,
)
from elsewhere.attest.registry import make_attester

__all__ = [
    "AttestError",
    "Attester",
    "AttesterKind",
    "CannotAttest",
    "Evidence",
    "make_attester",
    "probe",
]
