"""Parse and verify hardware attestation evidence into one claims shape.

    from elsewhere.evidence import EvidenceOptions, verify_evidence
    result = verify_evidence(data, EvidenceOptions(at=..., vek=..., chain=(...,)))

`detect` tells the format from the bytes; `verify_evidence` dispatches to the format's
verifier and returns an `elsewhere.claims.VerificationResult`; `canonical_evidence` gives the
bytes the ledger's evidence digest is computed over (one per signed content).
"""

from elsewhere.evidence.anchors import TrustAnchor, load_certificates
from elsewhere.evidence.api import EvidenceOptions, verify_detected, verify_evidence
from elsewhere.evidence.canonical import canonical_evidence
from elsewhere.evidence.detect import Detected, EvidenceFormat, detect

__all__ = [
    "Detected",
    "EvidenceFormat",
    "EvidenceOptions",
    "TrustAnchor",
    "canonical_evidence",
    "detect",
    "load_certificates",
    "verify_detected",
    "verify_evidence",
]
