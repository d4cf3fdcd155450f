"""One entry point for every kind of evidence: detect the format, dispatch to its verifier.

Each evidence family has one branch in `verify_evidence`; a verifier takes the detected
evidence and the options and returns a `VerificationResult` (failed checks included), raising
only typed errors (`InputError` and subclasses) for input it cannot use.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from elsewhere.claims import VerificationResult
from elsewhere.errors import InputError
from elsewhere.evidence.anchors import TrustAnchor
from elsewhere.evidence.detect import Detected, detect
from elsewhere.timeutil import to_utc


@dataclass(frozen=True)
class EvidenceOptions:
    """How to verify one piece of evidence.

    - `at`: the time certificates (and collateral) must be valid at; None means now.
    - `vek`: the SEV-SNP VCEK or VLEK certificate (PEM or DER), if the evidence does not carry it.
    - `chain`: further certificates (PEM bundles or DER), e.g. AMD's ASK/ASVK and ARK.
    - `cert_table`: an SEV extended-report certificate table / configfs-tsm auxblob.
    - `trusted_emulated_roots`: emulated roots the caller explicitly trusts; never implied.
    - `collateral`: DCAP collateral (`elsewhere.evidence.dcap.collateral.load_collateral`);
      None looks up the local cache (`elsewhere collateral import`).
    """

    at: dt.datetime | None = None
    vek: bytes | None = None
    chain: tuple[bytes, ...] = ()
    cert_table: bytes | None = None
    trusted_emulated_roots: tuple[TrustAnchor, ...] = ()
    collateral: object | None = None

    def verification_time(self) -> dt.datetime:
        if self.at is None:
            return dt.datetime.now(dt.UTC)
        return to_utc(self.at, "verification time")


def verify_evidence(data: bytes, options: EvidenceOptions | None = None) -> VerificationResult:
    """Verify evidence of any supported format; raises InputError for unusable input."""
    return verify_detected(detect(data), options or EvidenceOptions())


def verify_detected(detected: Detected, options: EvidenceOptions) -> VerificationResult:
    if detected.format.is_snp:
        from elsewhere.evidence.snp.verify import verify_snp_evidence

        return verify_snp_evidence(detected, options)
    if detected.format.is_dcap:
        from elsewhere.evidence.dcap.api import verify_dcap_evidence

        return verify_dcap_evidence(detected, options)
    raise InputError("evidence", "format", f"no verifier for {detected.format.value}")
