"""DCAP verification of every Intel vector with collateral, by Intel's rules, at its time."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from dcap_support import CASES, UNLABELLED, Case
from elsewhere.claims import Tee
from elsewhere.errors import ParseError
from elsewhere.evidence import EvidenceOptions, verify_evidence
from elsewhere.evidence.dcap.verify import verify_quote


@pytest.mark.parametrize("case", CASES + UNLABELLED, ids=lambda c: c.id)
def test_vector_status_and_advisories(vectors: Path, case: Case) -> None:
    result = verify_quote(case.quote_bytes(vectors), case.load(vectors), case.when())
    assert result.claims.tcb_status == case.status
    assert result.claims.advisory_ids == tuple(sorted(case.advisories))
    if case.status is None:
        assert [f.check for f in result.failures] == ["TCB level (TCB Info)"]
        assert result.failures[0].found.startswith("TCB_NOT_SUPPORTED")
    else:
        assert result.verified, result.failures


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_claims_match_manifest(vectors: Path, manifest: dict[str, Any], case: Case) -> None:
    fields = manifest[case.id]["fields"]
    claims = verify_quote(case.quote_bytes(vectors), case.load(vectors), case.when()).claims
    assert claims.tee is (Tee.SGX if fields["body_kind"] == "sgx" else Tee.TDX)
    assert claims.report_version == fields["header"]["version"]
    assert claims.signer == "PCK" and not claims.emulated
    assert claims.report_data == fields["body"]["reportdata"]
    assert claims.fmspc == fields["pck"]["fmspc"]
    assert [claims.tcb[f"sgx_comp_{i:02d}"] for i in range(16)] == fields["pck"]["sgx_tcb_comp_svn"]
    assert claims.tcb["pcesvn"] == fields["pck"]["pcesvn"]
    assert claims.identity["qe_isvsvn"] == fields["qe_report"]["isvsvn"]
    assert claims.identity["pceid"] == fields["pck"]["pceid"]
    body = fields["body"]
    if claims.tee is Tee.SGX:
        assert claims.measurements["mrenclave"] == body["mrenclave"]
        assert claims.measurements["mrsigner"] == body["mrsigner"]
        assert claims.identity["attributes"] == body["attributes"]
        assert claims.debug == bool(int(body["attributes"][:2], 16) & 2)
    else:
        for name in ("mrtd", "mrseam", "mrsignerseam", "mrconfigid", "rtmr0", "rtmr3"):
            assert claims.measurements[name] == body[name]
        assert claims.identity["td_attributes"] == body["tdattributes"]
        assert claims.identity["xfam"] == body["xfam"]
        assert bytes.fromhex(body["tee_tcb_svn"]) == bytes(
            claims.tcb[f"tdx_comp_{i:02d}"] for i in range(16)
        )
        assert claims.debug == bool(int(body["tdattributes"][:2], 16) & 1)
        assert claims.flags["sept_ve_disable"] == bool(int(body["tdattributes"][6:8], 16) & 0x10)
        if "mrservicetd" in body:
            assert claims.measurements["mrservicetd"] == body["mrservicetd"]
            assert claims.identity["tee_tcb_svn2"] == body["tee_tcb_svn2"]
            assert claims.identity["td_report_version"] == "1.5"


def test_generation_from_fmspc(vectors: Path) -> None:
    names = {}
    for case in CASES:
        claims = verify_quote(case.quote_bytes(vectors), case.load(vectors), case.when()).claims
        names[claims.fmspc] = claims.generation
    assert names["50806f000000"] == "Sapphire Rapids"
    assert names["00806f050000"] == "Sapphire Rapids"
    assert names["b0c06f000000"] == "Emerald Rapids"
    assert names["00606a000000"] == "Ice Lake-SP"


def test_dispatch_through_verify_evidence(vectors: Path) -> None:
    case = CASES[5]
    options = EvidenceOptions(at=case.when(), collateral=case.load(vectors))
    result = verify_evidence(case.quote_bytes(vectors), options)
    assert result.verified and result.evidence_kind == "tdx-dcap-quote"
    assert result.claims.tcb_status == "OutOfDate"
    assert any("3065 bytes of zero padding" in notice for notice in result.notices)


def _checks(case: Case, vectors: Path, at: dt.datetime) -> list[str]:
    result = verify_quote(case.quote_bytes(vectors), case.load(vectors), at)
    return [f.check for f in result.failures]


def test_expired_collateral_fails(vectors: Path) -> None:
    checks = _checks(CASES[0], vectors, dt.datetime(2025, 8, 1, tzinfo=dt.UTC))
    assert "TCB Info issueDate/nextUpdate (collateral)" in checks
    assert "PCK CRL thisUpdate/nextUpdate (collateral)" in checks


def test_collateral_not_yet_valid_fails(vectors: Path) -> None:
    checks = _checks(CASES[0], vectors, dt.datetime(2025, 6, 1, tzinfo=dt.UTC))
    assert "TCB Info issueDate/nextUpdate (collateral)" in checks


def test_expired_pck_and_tcb_signing_certificates(vectors: Path) -> None:
    spr = CASES[3]
    checks = _checks(spr, vectors, dt.datetime(2053, 7, 1, 1, tzinfo=dt.UTC))
    assert "PCK certificate chain validity (certification data)" in checks
    # The 2018 TCB Signing certificate in this bundle ends 2025-05-21.
    late = _checks(spr, vectors, dt.datetime(2025, 6, 1, tzinfo=dt.UTC))
    assert "TCB Info issuer chain validity (collateral)" in late


def test_collateral_for_another_platform_is_refused(vectors: Path) -> None:
    quote = CASES[0].quote_bytes(vectors)  # FMSPC b0c06f000000
    result = verify_quote(quote, CASES[5].load(vectors), CASES[5].when())
    assert "TCB Info FMSPC (collateral vs PCK)" in [f.check for f in result.failures]


def test_sgx_collateral_for_tdx_quote_is_refused(vectors: Path) -> None:
    quote = CASES[5].quote_bytes(vectors)
    result = verify_quote(quote, CASES[9].load(vectors), CASES[9].when())
    checks = [f.check for f in result.failures]
    assert "TCB Info id (collateral vs quote TEE)" in checks
    assert "QE Identity id (collateral vs quote TEE)" in checks


def test_processor_crl_for_platform_pck_is_refused(vectors: Path) -> None:
    """Intel 4.1.2.4.6: the PCK CRL's issuer must be the PCK's issuer."""
    platform_pck = CASES[9]  # SGX, Platform CA
    processor = CASES[8].load(vectors)  # its pck_crl is the Processor CA CRL
    mixed = dataclasses.replace(platform_pck.load(vectors), pck_crl=processor.pck_crl)
    result = verify_quote(platform_pck.quote_bytes(vectors), mixed, platform_pck.when())
    checks = [f.check for f in result.failures]
    assert "PCK CRL issuer (collateral vs certification data)" in checks


# go-tdx-guest TestNegativeVerification: one byte set in the SPR E4 quote.
@pytest.mark.parametrize(
    ("offset", "value", "check"),
    [
        (0x1E, 0x32, "quote signature (header, body)"),
        (0x3C, 0x32, "quote signature (header, body)"),
        (0xB77, 0x32, "PCK certificate chain (certification data)"),
        (0xF5F, 0x32, "PCK certificate chain (certification data)"),
        (0x1329, 0x32, "PCK certificate chain (certification data)"),
        (0x1343, 0x32, "PCK certificate chain (certification data)"),
    ],
)
def test_gotdx_negative_mutations(vectors: Path, offset: int, value: int, check: str) -> None:
    case = CASES[3]
    data = bytearray(case.quote_bytes(vectors))
    data[offset] = value
    result = verify_quote(bytes(data), case.load(vectors), case.when())
    assert check in [f.check for f in result.failures]


@pytest.mark.parametrize(
    ("offset", "value", "reason"),
    [
        (0x00, 3, "version 3 quote must be SGX"),
        (0x278, 0x10, "size"),
        (0x0C, 0x00, "not Intel's QE"),
    ],
)
def test_gotdx_negative_format(vectors: Path, offset: int, value: int, reason: str) -> None:
    case = CASES[3]
    data = bytearray(case.quote_bytes(vectors))
    data[offset] = value
    with pytest.raises(ParseError, match=reason):
        verify_quote(bytes(data), case.load(vectors), case.when())
