"""The emulated TDX platform: real-format quotes, accepted only under an explicitly trusted root
and always marked emulated."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from elsewhere.claims import EMULATED_WARNING
from elsewhere.errors import ConfigError
from elsewhere.evidence import EvidenceOptions, detect, verify_evidence
from elsewhere.evidence.dcap.emulate import EmulatedTdxPlatform
from elsewhere.evidence.dcap.quote import parse_quote


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> EmulatedTdxPlatform:
    return EmulatedTdxPlatform.create(tmp_path_factory.mktemp("tdx"))


def _options(platform: EmulatedTdxPlatform, **kw: object) -> EvidenceOptions:
    collateral = kw.pop("collateral", None) or platform.collateral()
    return EvidenceOptions(collateral=collateral, **kw)  # type: ignore[arg-type]


def test_quote_is_real_format(platform: EmulatedTdxPlatform) -> None:
    quote = platform.attest(b"nonce")
    assert detect(quote).format.value == "tdx-dcap-quote"
    parsed = parse_quote(quote)
    assert parsed.header.version == 4 and parsed.body_type == 2 and parsed.trailing == 0
    assert parsed.body.report_data == b"nonce".ljust(64, b"\0")


def test_verified_only_with_trusted_root_and_marked_emulated(platform: EmulatedTdxPlatform) -> None:
    quote = platform.attest(b"\x01" * 64)
    trusted = verify_evidence(
        quote, _options(platform, trusted_emulated_roots=(platform.trust_anchor,))
    )
    assert trusted.verified, trusted.failures
    assert trusted.claims.emulated and trusted.protection == EMULATED_WARNING
    assert EMULATED_WARNING in trusted.notices
    assert trusted.claims.tcb_status == "UpToDate"
    assert trusted.claims.fmspc == platform.fmspc.hex()
    assert trusted.claims.report_data == "01" * 64
    untrusted = verify_evidence(quote, _options(platform))
    assert not untrusted.verified
    assert "PCK certificate chain (certification data)" in [f.check for f in untrusted.failures]


def test_collateral_status_and_advisories(platform: EmulatedTdxPlatform) -> None:
    collateral = platform.collateral(status="OutOfDate", advisory_ids=("INTEL-SA-99999",))
    result = verify_evidence(
        platform.attest(b""),
        _options(platform, collateral=collateral, trusted_emulated_roots=(platform.trust_anchor,)),
    )
    assert result.claims.tcb_status == "OutOfDate"
    assert result.claims.advisory_ids == ("INTEL-SA-99999",)


def test_load_round_trip_and_key_modes(platform: EmulatedTdxPlatform) -> None:
    loaded = EmulatedTdxPlatform.load(platform.directory)
    assert loaded.certs == platform.certs and loaded.tee_tcb_svn == platform.tee_tcb_svn
    assert (platform.directory / "pck-key.pem").stat().st_mode & 0o077 == 0
    result = verify_evidence(
        loaded.attest(b"x"), _options(loaded, trusted_emulated_roots=(platform.trust_anchor,))
    )
    assert result.verified


def test_emulated_collateral_cannot_vouch_for_intel_quote(
    platform: EmulatedTdxPlatform, vectors: Path
) -> None:
    from dcap_support import CASES

    case = CASES[5]
    result = verify_evidence(
        case.quote_bytes(vectors),
        EvidenceOptions(
            at=case.when(),
            collateral=platform.collateral(now=case.when()),
            trusted_emulated_roots=(platform.trust_anchor,),
        ),
    )
    assert not result.verified
    assert "collateral root" in [f.check for f in result.failures]


def test_load_missing_directory_is_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="emulated TDX"):
        EmulatedTdxPlatform.load(tmp_path / "nope")


def test_dcap_qvl_accepts_emulated_quote_under_its_root(platform: EmulatedTdxPlatform) -> None:
    """Fidelity check: the peer verifies our emulated quote and collateral with our root."""
    dcap_qvl = pytest.importorskip("dcap_qvl")
    import time

    collateral = dcap_qvl.QuoteCollateralV3.from_json(json.dumps(platform.collateral().to_json()))
    report = dcap_qvl.verify_with_root_ca(
        platform.attest(b"peer"), collateral, platform.certs["root"], int(time.time())
    )
    assert report.status == "UpToDate"


@pytest.mark.parametrize(
    ("revoked", "check"),
    [
        ("pck", "PCK revocation (PCK CRL)"),
        ("pck-ca", "PCK CA revocation (root CA CRL)"),
        ("tcb-signing", "TCB Info signing certificate (root CA CRL)"),
    ],
)
def test_revoked_certificates_fail(platform: EmulatedTdxPlatform, revoked: str, check: str) -> None:
    collateral = platform.collateral(revoked=(revoked,))
    result = verify_evidence(
        platform.attest(b"r"),
        _options(platform, collateral=collateral, trusted_emulated_roots=(platform.trust_anchor,)),
    )
    assert check in [f.check for f in result.failures]


@pytest.mark.parametrize(("version", "td15"), [(5, False), (5, True)])
def test_v5_quotes_verify_and_match_peer(
    platform: EmulatedTdxPlatform, version: int, td15: bool
) -> None:
    quote = platform.attest(b"v5", version=version, td15=td15)
    parsed = parse_quote(quote)
    assert parsed.header.version == 5 and parsed.body_type == (3 if td15 else 2)
    collateral = platform.collateral()
    result = verify_evidence(
        quote,
        _options(platform, collateral=collateral, trusted_emulated_roots=(platform.trust_anchor,)),
    )
    assert result.verified, result.failures
    assert result.claims.identity["td_report_version"] == ("1.5" if td15 else "1.0")
    assert ("mrservicetd" in result.claims.measurements) is td15
    dcap_qvl = pytest.importorskip("dcap_qvl")
    import time

    peer = dcap_qvl.verify_with_root_ca(
        quote,
        dcap_qvl.QuoteCollateralV3.from_json(json.dumps(collateral.to_json())),
        platform.certs["root"],
        int(time.time()),
    )
    assert peer.status == result.claims.tcb_status
