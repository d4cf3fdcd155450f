"""A byte changed in each region of a quote or its collateral fails a check naming the region."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from dcap_support import CASES, Case
from elsewhere.evidence.dcap.collateral import Collateral, build_collateral
from elsewhere.evidence.dcap.quote import parse_quote
from elsewhere.evidence.dcap.verify import verify_quote

TDX_V4 = CASES[5]  # GCP, verifies (OutOfDate)
TDX_V5 = CASES[4]  # TD report 1.5, verifies (UpToDate)
SGX_V3 = CASES[9]  # verifies (SWHardeningNeeded)


def _regions(data: bytes) -> dict[str, int]:
    """An offset inside each region, from the parsed layout."""
    quote = parse_quote(data)
    sig = len(quote.signed) + 4
    cert = sig + 128 + (0 if quote.header.version == 3 else 6)
    auth = cert + 384 + 64 + 2
    pem = auth + len(quote.qe_auth_data) + 6
    letter = next(i for i in range(pem + 200, pem + 400) if chr(data[i]).isalpha())
    return {
        "header": 30,
        "body": len(quote.signed) - 100,
        "signature": sig + 10,
        "attestation key": sig + 64 + 10,
        "QE report": cert + 50,
        "QE report signature": cert + 384 + 10,
        "QE auth data": auth + 5,
        "certification data": letter,
    }


def _flip(data: bytes, offset: int, region: str) -> bytes:
    out = bytearray(data)
    out[offset] ^= 0x20 if region == "certification data" else 0x01  # keep base64 base64
    return bytes(out)


@pytest.mark.parametrize("case", [TDX_V4, TDX_V5, SGX_V3], ids=lambda c: c.id)
@pytest.mark.parametrize(
    "region",
    [
        "header",
        "body",
        "signature",
        "attestation key",
        "QE report",
        "QE report signature",
        "QE auth data",
        "certification data",
    ],
)
def test_quote_region_mutation_fails_naming_region(vectors: Path, case: Case, region: str) -> None:
    data = case.quote_bytes(vectors)
    offset = _regions(data)[region]
    result = verify_quote(_flip(data, offset, region), case.load(vectors), case.when())
    assert not result.verified
    named = "signature" if region == "signature" else region
    assert any(named in f.check for f in result.failures), result.failures


def _rebuild(collateral: Collateral, **docs: object) -> Collateral:
    parts = {
        "tcb_info_doc": collateral.tcb_info_doc,
        "qe_identity_doc": collateral.qe_identity_doc,
        "root_ca_crl": collateral.root_ca_crl,
        "pck_crl": collateral.pck_crl,
        "pck_crl_issuer_chain": collateral.pck_crl_issuer_chain,
    }
    parts.update(docs)
    return build_collateral(**parts)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("part", "check"),
    [
        ("tcb_info body", "TCB Info signature (collateral)"),
        ("tcb_info signature", "TCB Info signature (collateral)"),
        ("qe_identity body", "QE Identity signature (collateral)"),
        ("qe_identity signature", "QE Identity signature (collateral)"),
        ("pck_crl", "PCK CRL (collateral)"),
    ],
)
def test_collateral_mutation_fails_naming_part(vectors: Path, part: str, check: str) -> None:
    case = TDX_V4
    collateral = case.load(vectors)
    name, _, what = part.partition(" ")
    if name == "pck_crl":
        crl = bytearray(collateral.pck_crl)
        crl[-10] ^= 0x01  # inside the signature
        mutated = _rebuild(collateral, pck_crl=bytes(crl))
    else:
        doc = getattr(collateral, f"{name}_doc")
        if what == "body":
            changed = doc.body.replace(b'"tcbDate":"2', b'"tcbDate":"1', 1)
            assert changed != doc.body
            doc = dataclasses.replace(doc, body=changed)
        else:
            doc = dataclasses.replace(
                doc, signature=bytes([doc.signature[0] ^ 1]) + doc.signature[1:]
            )
        mutated = _rebuild(collateral, **{f"{name}_doc": doc})
    result = verify_quote(case.quote_bytes(vectors), mutated, case.when())
    assert check in [f.check for f in result.failures]
