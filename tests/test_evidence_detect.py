"""Format detection by bytes: SNP raw / hex, Azure HCL, DCAP SGX / TDX quotes, garbage."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from elsewhere.errors import ParseError
from elsewhere.evidence import EvidenceFormat, detect


def _snp(version: int = 3) -> bytes:
    return struct.pack("<I", version) + bytes(0x4A0 - 4)


def test_snp_binary_and_hex() -> None:
    raw = _snp(5)
    assert detect(raw).format is EvidenceFormat.SNP_REPORT
    assert detect(raw).version == 5
    text = raw.hex().encode()
    wrapped = b"\n".join(text[i : i + 64] for i in range(0, len(text), 64)) + b"\n"
    found = detect(wrapped)
    assert found.format is EvidenceFormat.SNP_REPORT and found.data == raw and found.from_hex
    assert detect(b"0x" + text.upper()).data == raw


def test_hcl_and_dcap_headers() -> None:
    assert detect(b"HCLA" + bytes(100)).format is EvidenceFormat.AZURE_HCL_SNP
    assert detect(struct.pack("<HHI", 3, 2, 0) + bytes(40)).format is EvidenceFormat.DCAP_SGX
    assert detect(struct.pack("<HHI", 4, 2, 0) + bytes(40)).format is EvidenceFormat.DCAP_SGX
    for version in (4, 5):
        found = detect(struct.pack("<HHI", version, 2, 0x81) + bytes(40))
        assert found.format is EvidenceFormat.DCAP_TDX and found.version == version
    with pytest.raises(ParseError, match="tee_type"):
        detect(struct.pack("<HHI", 4, 2, 0x42) + bytes(40))


@pytest.mark.parametrize(
    ("relative", "expected"),
    [
        ("tdx/dcapqvl-v4-b0c06f/tdx_quote.bin", EvidenceFormat.DCAP_TDX),
        ("tdx/dcapqvl-v5-90c06f-notcb/tdx_quote_outdated.bin", EvidenceFormat.DCAP_TDX),
        ("tdx/dcapqvl-near-v4-20a06f/quote_hex.txt", EvidenceFormat.DCAP_TDX),
        ("sgx/dcapqvl-v3-00a067/sgx_quote.bin", EvidenceFormat.DCAP_SGX),
        ("sgx/automata-v3-00606a/quote_v3.bin", EvidenceFormat.DCAP_SGX),
        ("snp/virtee-milan-v2/report_milan.hex", EvidenceFormat.SNP_REPORT),
        ("snp/ms-turin/turin_attestation_report.bin", EvidenceFormat.SNP_REPORT),
        ("snp/trustee-azure-milan-hcl-v2/hcl-report.bin", EvidenceFormat.AZURE_HCL_SNP),
    ],
)
def test_real_vectors_are_detected(vectors: Path, relative: str, expected: EvidenceFormat) -> None:
    assert detect((vectors / relative).read_bytes()).format is expected


@pytest.mark.parametrize(
    ("data", "where"),
    [
        (b"", "empty"),
        (b"\x02\x00", "too short"),
        (b"\x7fELF\x02\x01\x01\x00" + bytes(100), "unknown format"),
        (b"abc", "odd number of hex digits"),
        (b"-----BEGIN CERTIFICATE-----\n", "unknown format"),
    ],
)
def test_garbage_is_one_clear_line(data: bytes, where: str) -> None:
    with pytest.raises(ParseError, match=where) as info:
        detect(data)
    assert "\n" not in info.value.message


def test_oversized_input_is_refused_before_decoding() -> None:
    with pytest.raises(ParseError, match="larger than any supported evidence"):
        detect(b"0" * (3 << 20))
