"""Attesters: how a keep obtains evidence binding its report_data (base: Evidence, the
Attester protocol, make_attester; nil; configfs for SEV-SNP / TDX hardware; emulated)."""

from elsewhere.attest.base import Attester, AttesterKind, AttestError, Evidence, make_attester

__all__ = ["AttestError", "Attester", "AttesterKind", "Evidence", "make_attester"]
