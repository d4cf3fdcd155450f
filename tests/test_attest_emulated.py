from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from elsewhere.attest import make_attester
from elsewhere.attest.emulated import EmulatedSnpAttester, EmulatedTdxAttester
from elsewhere.claims import EMULATED_WARNING
from elsewhere.crypto.binding import report_data, workload_digest
from elsewhere.crypto.hpke import KeepKey
from elsewhere.errors import ConfigError
from elsewhere.evidence.api import EvidenceOptions, verify_evidence
from tsm_fake import FakeTsm

NONCE = bytes(range(32))


def binding() -> bytes:
    key = KeepKey.generate()
    return report_data(
        NONCE, key.public_bytes(), workload_digest(b"module"), hashlib.sha256(b"p").digest()
    )


@pytest.fixture(scope="module")
def snp(tmp_path_factory: pytest.TempPathFactory) -> EmulatedSnpAttester:
    attester = make_attester("emulated-snp", tmp_path_factory.mktemp("state"))
    assert isinstance(attester, EmulatedSnpAttester)
    return attester


def test_emulated_snp_evidence_verifies_only_with_its_root(snp: EmulatedSnpAttester) -> None:
    rd = binding()
    evidence = snp.attest(rd)
    assert evidence.emulated and evidence.kind == "emulated-snp"
    assert evidence.format == "sev-snp-report"
    assert evidence.protection == EMULATED_WARNING

    trusted = EvidenceOptions(cert_table=evidence.aux, trusted_emulated_roots=(snp.trust_anchor,))
    result = verify_evidence(evidence.evidence, trusted)
    assert result.verified, result.failures
    assert result.claims.emulated and result.protection == EMULATED_WARNING
    assert result.claims.report_data == rd.hex()

    untrusted = verify_evidence(evidence.evidence, EvidenceOptions(cert_table=evidence.aux))
    assert not untrusted.verified


def test_emulated_platform_persists_in_state_dir(snp: EmulatedSnpAttester, tmp_path: Path) -> None:
    first = make_attester("emulated-snp", tmp_path, generation="Milan")
    again = make_attester("emulated-snp", tmp_path)
    assert isinstance(first, EmulatedSnpAttester) and isinstance(again, EmulatedSnpAttester)
    assert first.trust_anchor.fingerprint == again.trust_anchor.fingerprint
    assert again.platform.generation == "Milan"
    assert first.trust_anchor.fingerprint != snp.trust_anchor.fingerprint


def test_emulated_options_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown option"):
        make_attester("emulated-snp", tmp_path, colour="blue")


def test_configfs_fake_backed_by_the_emulated_platform(
    snp: EmulatedSnpAttester, tmp_path: Path
) -> None:
    platform = snp.platform
    fake = FakeTsm(
        tmp_path / "tsm" / "report",
        generate=lambda inblob, level: platform.sign(platform.report(inblob, vmpl=level)),
        auxblob=platform.cert_table(),
    )
    rd = binding()
    evidence = make_attester("sev-snp", configfs_root=fake.root, fs=fake, privlevel=1).attest(rd)
    assert not evidence.emulated  # the attester cannot tell; the verifier can
    options = EvidenceOptions(cert_table=evidence.aux, trusted_emulated_roots=(snp.trust_anchor,))
    result = verify_evidence(evidence.evidence, options)
    assert result.verified, result.failures
    assert result.claims.emulated  # chains to the emulated root: marked so
    assert result.claims.report_data == rd.hex()
    assert result.claims.identity.get("vmpl") == 1


def test_emulated_tdx_evidence_verifies_only_with_its_root(tmp_path: Path) -> None:
    attester = make_attester("emulated-tdx", tmp_path)
    assert isinstance(attester, EmulatedTdxAttester)
    rd = binding()
    evidence = attester.attest(rd)
    assert (evidence.kind, evidence.format, evidence.emulated) == (
        "emulated-tdx",
        "tdx-dcap-quote",
        True,
    )
    collateral = attester.platform.collateral()
    options = EvidenceOptions(
        collateral=collateral, trusted_emulated_roots=(attester.trust_anchor,)
    )
    result = verify_evidence(evidence.evidence, options)
    assert result.verified, result.failures
    assert result.claims.emulated and result.claims.report_data == rd.hex()
    untrusted = verify_evidence(evidence.evidence, EvidenceOptions(collateral=collateral))
    assert not untrusted.verified
    again = make_attester("emulated-tdx", tmp_path)
    assert isinstance(again, EmulatedTdxAttester)
    assert again.trust_anchor.fingerprint == attester.trust_anchor.fingerprint
