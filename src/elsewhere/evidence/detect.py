"""Recognise evidence by its bytes: SEV-SNP report (binary / hex), Azure HCL report, DCAP quote.

Detection looks only at magic numbers and version fields; the format's own parser checks
everything else (size, reserved fields) and names the offending offset.
"""

from __future__ import annotations

import binascii
import struct
from dataclasses import dataclass
from enum import StrEnum

from elsewhere.errors import ParseError
from elsewhere.evidence.dcap.quote import ATT_KEY_ECDSA_P256, QUOTE_VERSIONS, TEE_SGX, TEE_TDX

# A hex text form is at most this large (two characters a byte plus some whitespace), which
# keeps a hostile multi-gigabyte "hex" file from being decoded at all.
MAX_EVIDENCE_BYTES = 1 << 20

HCL_MAGIC = b"HCLA"
SNP_MAX_VERSION = 0xFF  # SEV-SNP report versions are small integers; anything above is not SNP

_HEX_CHARS = frozenset(b"0123456789abcdefABCDEF \t\r\n")


class EvidenceFormat(StrEnum):
    """The evidence families Elsewhere recognises; `value` is the result's `evidence_kind`."""

    SNP_REPORT = "sev-snp-report"
    AZURE_HCL_SNP = "azure-hcl-sev-snp"
    DCAP_SGX = "sgx-dcap-quote"
    DCAP_TDX = "tdx-dcap-quote"

    @property
    def is_snp(self) -> bool:
        return self in (EvidenceFormat.SNP_REPORT, EvidenceFormat.AZURE_HCL_SNP)

    @property
    def is_dcap(self) -> bool:
        return self in (EvidenceFormat.DCAP_SGX, EvidenceFormat.DCAP_TDX)


@dataclass(frozen=True)
class Detected:
    """Evidence with its format; `data` is binary (hex text already decoded)."""

    format: EvidenceFormat
    data: bytes
    version: int
    from_hex: bool = False


def decode_hex_text(data: bytes) -> bytes | None:
    """Binary from ASCII hex (whitespace allowed, optional 0x), or None if it is not hex text."""
    text = data.strip()
    if text[:2] in (b"0x", b"0X"):
        text = text[2:]
    if not text or not _HEX_CHARS.issuperset(text):
        return None
    compact = b"".join(text.split())
    if len(compact) % 2:
        raise ParseError("evidence", "hex text", f"odd number of hex digits ({len(compact)})")
    try:
        return binascii.unhexlify(compact)
    except binascii.Error as error:  # pragma: no cover - guarded by the character check
        raise ParseError("evidence", "hex text", str(error)) from None


def detect(data: bytes) -> Detected:
    """Identify the evidence format or raise ParseError saying why nothing matched."""
    if not data:
        raise ParseError("evidence", "byte 0", "empty input")
    if len(data) > 2 * MAX_EVIDENCE_BYTES + 1024:
        raise ParseError(
            "evidence", "size", f"{len(data)} bytes is larger than any supported evidence"
        )
    from_hex = False
    decoded = decode_hex_text(data)
    if decoded is not None:
        data, from_hex = decoded, True
    if len(data) > MAX_EVIDENCE_BYTES:
        raise ParseError(
            "evidence", "size", f"{len(data)} bytes is larger than any supported evidence"
        )
    if data[:4] == HCL_MAGIC:
        version = struct.unpack_from("<I", data, 4)[0] if len(data) >= 8 else 0
        return Detected(EvidenceFormat.AZURE_HCL_SNP, data, version, from_hex)
    if len(data) < 4:
        raise ParseError(
            "evidence", "byte 0", f"truncated: {len(data)} bytes is too short for any evidence"
        )
    dcap = _detect_dcap(data, from_hex)
    if dcap is not None:
        return dcap
    snp_version = struct.unpack_from("<I", data, 0)[0]
    if 0 < snp_version <= SNP_MAX_VERSION:
        return Detected(EvidenceFormat.SNP_REPORT, data, snp_version, from_hex)
    raise ParseError(
        "evidence",
        "byte 0",
        f"unknown format (starts {data[:8].hex()}): expected an SEV-SNP report (version 2, 3 "
        "or 5), an Azure HCL report ('HCLA') or a DCAP quote (version 3-5), binary or hex",
    )


def _detect_dcap(data: bytes, from_hex: bool) -> Detected | None:
    if len(data) < 8:
        return None
    version, key_type, tee_type = struct.unpack_from("<HHI", data, 0)
    if version not in QUOTE_VERSIONS or key_type != ATT_KEY_ECDSA_P256:
        return None
    if version == 3 or tee_type == TEE_SGX:
        # v3 quotes are SGX only; their tee_type bytes are reserved.
        return Detected(EvidenceFormat.DCAP_SGX, data, version, from_hex)
    if tee_type == TEE_TDX:
        return Detected(EvidenceFormat.DCAP_TDX, data, version, from_hex)
    raise ParseError(
        "DCAP quote", "offset 0x4 (tee_type)", f"unknown TEE type {tee_type:#x} (0x0 SGX, 0x81 TDX)"
    )
