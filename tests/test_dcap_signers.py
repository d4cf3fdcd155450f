"""Signer roles (#21 defect 1): TCB Info, QE Identity and the CRLs are accepted only from the
certificate Intel's QVL names for each, not from any key that chains to the root."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from elsewhere.claims import VerificationResult
from elsewhere.evidence import EvidenceOptions, verify_evidence
from elsewhere.evidence.dcap.collateral import Collateral, SignedDoc, build_collateral
from elsewhere.evidence.dcap.emulate import EmulatedTdxPlatform


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> EmulatedTdxPlatform:
    return EmulatedTdxPlatform.create(tmp_path_factory.mktemp("tdx"))


def _sign(platform: EmulatedTdxPlatform, key: str, body: bytes) -> bytes:
    der = platform.keys[key].sign(body, ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


# Who re-signs, and the issuer chain that makes the signature chain to the root.
SIGNERS = {
    "pck": ("pck", "pck-ca", "root"),
    "pck-ca": ("pck-ca", "root"),
    "root": ("root", "root"),
}


def _resigned(platform: EmulatedTdxPlatform, base: Collateral, signer: str) -> Collateral:
    """`base` with TCB Info and QE Identity re-signed by `signer` (its chain to the root)."""
    chain = tuple(platform.certs[name] for name in SIGNERS[signer])
    tcb_body = base.tcb_info_doc.body.replace(b'"tcbStatus":"OutOfDate"', b'"tcbStatus":"UpToDate"')
    docs = [
        SignedDoc(body, _sign(platform, signer, body), chain)
        for body in (tcb_body, base.qe_identity_doc.body)
    ]
    return build_collateral(
        docs[0], docs[1], base.root_ca_crl, base.pck_crl, base.pck_crl_issuer_chain
    )


def _verify(platform: EmulatedTdxPlatform, collateral: Collateral) -> VerificationResult:
    return verify_evidence(
        platform.attest(b"signer roles"),
        EvidenceOptions(collateral=collateral, trusted_emulated_roots=(platform.trust_anchor,)),
    )


def test_honest_collateral_out_of_date(platform: EmulatedTdxPlatform) -> None:
    result = _verify(platform, platform.collateral(status="OutOfDate"))
    assert result.claims.tcb_status == "OutOfDate"
    assert not result.failures


@pytest.mark.parametrize("signer", sorted(SIGNERS))
def test_collateral_signed_by_another_role_is_refused(
    platform: EmulatedTdxPlatform, signer: str
) -> None:
    forged = _resigned(platform, platform.collateral(status="OutOfDate"), signer)
    result = _verify(platform, forged)
    assert not result.verified
    by_check = {f.check: str(f) for f in result.failures}
    for doc in ("TCB Info", "QE Identity"):
        reason = by_check[f"{doc} signer (collateral)"]
        assert "\n" not in reason, reason
        if signer == "pck":  # three certificates: the chain's shape already says no
            assert "3 certificates, expected 2" in reason, reason
        else:
            assert "which is not the SGX TCB Signing certificate" in reason, reason


def _crl(platform: EmulatedTdxPlatform, signer: str, subject_of: str) -> bytes:
    now = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    subject = x509.load_der_x509_certificate(platform.certs[subject_of]).subject
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(subject)
        .last_update(now)
        .next_update(now + dt.timedelta(days=1))
        .sign(platform.keys[signer], hashes.SHA256())
    )
    return crl.public_bytes(serialization.Encoding.DER)


def test_pck_crl_issued_by_another_role_is_refused(platform: EmulatedTdxPlatform) -> None:
    """A PCK CRL (and its issuer chain) from the TCB signing key instead of the PCK CA."""
    base = platform.collateral()
    forged = build_collateral(
        base.tcb_info_doc,
        base.qe_identity_doc,
        base.root_ca_crl,
        _crl(platform, "tcb-signing", "tcb-signing"),
        (platform.certs["tcb-signing"], platform.certs["root"]),
    )
    result = _verify(platform, forged)
    checks = {f.check: str(f) for f in result.failures}
    assert "PCK CRL issuer chain (collateral)" in checks, checks
    assert (
        "not the SGX PCK Processor CA or SGX PCK Platform CA"
        in checks["PCK CRL issuer chain (collateral)"]
    )


def test_root_crl_issued_by_pck_ca_is_refused(platform: EmulatedTdxPlatform) -> None:
    base = platform.collateral()
    forged = build_collateral(
        base.tcb_info_doc,
        base.qe_identity_doc,
        _crl(platform, "pck-ca", "pck-ca"),
        base.pck_crl,
        base.pck_crl_issuer_chain,
    )
    result = _verify(platform, forged)
    checks = {f.check: str(f) for f in result.failures}
    assert "root CA CRL (collateral)" in checks, checks


def test_cli_import_refuses_pck_signed_collateral(
    platform: EmulatedTdxPlatform,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`elsewhere collateral import`: exit 1 and one line naming the wrong signer; a bundle
    nested too deeply: exit 2, one line."""
    import json

    from elsewhere.cli import main

    monkeypatch.setenv("ELSEWHERE_HOME", str(tmp_path / "home"))
    forged = _resigned(platform, platform.collateral(status="OutOfDate"), "pck-ca")
    bundle = tmp_path / "forged.json"
    bundle.write_text(json.dumps(forged.to_json()))
    root = ["--trust-emulated-root", str(platform.directory / "root.pem")]
    assert main(["collateral", "import", str(bundle), *root]) == 1
    err = capsys.readouterr().err.strip()
    assert "TCB Info signer" in err and "SGX TCB Signing" in err and "\n" not in err, err
    bundle.write_text('{"tcb_info": ' + "[" * 100_000 + "]" * 100_000 + "}")
    assert main(["collateral", "import", str(bundle), *root]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "collateral JSON" in err, err
