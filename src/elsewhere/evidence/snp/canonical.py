"""One byte string per SEV-SNP report: the form whose digest the ledger keeps.

ECDSA accepts (R, S) and (R, n - S) alike, so anyone holding a report can make a second one
that verifies and hashes differently. The canonical form takes the low S (S <= n/2). In an
Azure HCL report it also drops the zero padding after the runtime data (`parse_hcl` refuses
anything but zero there). Everything else is kept byte for byte.
"""

from __future__ import annotations

from elsewhere.evidence.snp import abi
from elsewhere.evidence.snp.hcl import REPORT_OFFSET, RUNTIME_OFFSET, parse_hcl

HALF_ORDER = abi.P384_ORDER // 2


def canonical_report(data: bytes) -> bytes:
    """The raw report with S replaced by n - S when S is high; ParseError if not a report."""
    report = abi.parse_report(data)
    r, s = report.signature_ints()
    if HALF_ORDER < s < abi.P384_ORDER:
        return abi.with_signature(bytes(data), r, abi.P384_ORDER - s)
    return bytes(data)


def canonical_hcl(data: bytes) -> bytes:
    """The HCL report up to the end of its runtime data, its hardware report canonical."""
    hcl = parse_hcl(data)
    return (
        data[:REPORT_OFFSET]
        + canonical_report(hcl.hardware_report)
        + data[RUNTIME_OFFSET : hcl.size]
    )
