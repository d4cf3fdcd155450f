"""The canonical form of evidence: what the ledger's evidence digest is computed over.

Pure and total: evidence that parses is reduced to one byte string per signed content (binary,
not hex text; SEV-SNP: low-S signature, HCL padding dropped, see `snp.canonical`); evidence that
does not parse is returned as given, so a refused submission still gets a stable digest.
DCAP quotes are returned in binary form unchanged: their ECDSA P-256 signatures are not
normalised here (see docs/evidence-snp.md, "What the evidence digest covers").
"""

from __future__ import annotations

from elsewhere.errors import InputError
from elsewhere.evidence.detect import EvidenceFormat, detect
from elsewhere.evidence.snp.canonical import canonical_hcl, canonical_report


def canonical_evidence(data: bytes) -> bytes:
    """The bytes whose digest identifies this evidence in the ledger."""
    try:
        detected = detect(data)
    except InputError:
        return bytes(data)
    try:
        if detected.format is EvidenceFormat.AZURE_HCL_SNP:
            return canonical_hcl(detected.data)
        if detected.format is EvidenceFormat.SNP_REPORT:
            return canonical_report(detected.data)
    except InputError:
        pass
    return detected.data
