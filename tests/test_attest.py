from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from elsewhere.attest import AttesterKind, AttestError, Evidence, make_attester
from elsewhere.attest.base import Attester
from elsewhere.attest.configfs import ConfigfsAttester
from elsewhere.attest.nil import NilAttester
from elsewhere.claims import NIL_WARNING
from elsewhere.errors import ConfigError
from tsm_fake import FakeTsm, snp_shaped

REPORT_DATA = hashlib.sha512(b"binding").digest()


def test_nil_attester_produces_no_evidence() -> None:
    attester = make_attester("nil")
    assert isinstance(attester, NilAttester) and isinstance(attester, Attester)
    evidence = attester.attest(REPORT_DATA)
    assert evidence.kind == "nil" and evidence.format == "none"
    assert evidence.evidence == b"" and evidence.report_data == REPORT_DATA
    assert evidence.protection == NIL_WARNING
    assert Evidence.from_json(evidence.to_json()) == evidence


def test_report_data_must_be_64_bytes() -> None:
    with pytest.raises(AttestError, match="64 bytes"):
        NilAttester().attest(b"short")


def test_make_attester_refuses_unknown_kinds_and_options() -> None:
    with pytest.raises(ConfigError, match="unknown kind"):
        make_attester("sgx-magic")
    with pytest.raises(ConfigError, match="no options"):
        make_attester("nil", privlevel=1)
    with pytest.raises(ConfigError, match="privlevel"):
        make_attester("sev-snp", privlevel=7)
    assert {k.value for k in AttesterKind} == {
        "nil",
        "emulated-snp",
        "emulated-tdx",
        "sev-snp",
        "tdx",
    }


def attester_on(
    fake: FakeTsm, kind: str = "sev-snp", privlevel: int | None = None
) -> ConfigfsAttester:
    attester = make_attester(kind, configfs_root=fake.root, fs=fake, privlevel=privlevel)
    assert isinstance(attester, ConfigfsAttester)
    return attester


def test_configfs_end_to_end(tmp_path: Path) -> None:
    fake = FakeTsm(tmp_path / "tsm" / "report", auxblob=b"cert-table")
    evidence = attester_on(fake, privlevel=2).attest(REPORT_DATA)
    assert evidence.kind == "sev-snp" and evidence.format == "sev-snp-report"
    assert evidence.provider == "sev_guest" and not evidence.emulated
    assert evidence.evidence == snp_shaped(REPORT_DATA, 2)
    assert evidence.evidence[0x50:0x90] == REPORT_DATA
    assert evidence.aux == b"cert-table"
    assert "not yet verified" in evidence.protection
    # one instance per request, removed afterwards
    assert len(fake.created) == 1 and not fake.created[0].exists()
    assert list(fake.root.iterdir()) == []


def test_configfs_generation_counts_our_writes(tmp_path: Path) -> None:
    fake = FakeTsm(tmp_path / "report")
    seen: list[str] = []
    fake.on_read_outblob = lambda f, inst: seen.append((inst / "generation").read_text())
    attester_on(fake).attest(REPORT_DATA)
    attester_on(fake, privlevel=0).attest(REPORT_DATA)
    assert seen == ["1\n", "2\n"]


def test_configfs_detects_a_racing_writer(tmp_path: Path) -> None:
    fake = FakeTsm(tmp_path / "report")
    fake.on_read_outblob = lambda f, inst: f.race(inst, b"\xff" * 64)
    with pytest.raises(AttestError, match="another writer") as info:
        attester_on(fake).attest(REPORT_DATA)
    assert "\n" not in str(info.value)
    assert list(fake.root.iterdir()) == []  # cleaned up even on failure


def test_configfs_missing_provider_is_a_clear_error(tmp_path: Path) -> None:
    fake = FakeTsm(tmp_path / "report", provider=None)
    with pytest.raises(AttestError, match="no TSM provider is registered"):
        attester_on(fake).attest(REPORT_DATA)


def test_configfs_wrong_provider(tmp_path: Path) -> None:
    fake = FakeTsm(tmp_path / "report", provider="tdx_guest")
    with pytest.raises(AttestError, match="needs 'sev_guest'"):
        attester_on(fake).attest(REPORT_DATA)
    quote = attester_on(fake, "tdx").attest(REPORT_DATA)
    assert (quote.kind, quote.format, quote.provider) == ("tdx", "tdx-dcap-quote", "tdx_guest")


def test_configfs_missing_root(tmp_path: Path) -> None:
    attester = make_attester("tdx", configfs_root=tmp_path / "nowhere")
    with pytest.raises(AttestError, match="mount configfs"):
        attester.attest(REPORT_DATA)


def test_configfs_empty_outblob_and_kernel_errors(tmp_path: Path) -> None:
    fake = FakeTsm(tmp_path / "report", generate=lambda inblob, level: b"")
    with pytest.raises(AttestError, match="outblob is empty"):
        attester_on(fake).attest(REPORT_DATA)

    def fail(inblob: bytes, level: int) -> bytes:
        raise OSError(5, "Input/output error")

    fake = FakeTsm(tmp_path / "report2", generate=fail)
    with pytest.raises(AttestError, match="cannot read outblob: Input/output error"):
        attester_on(fake).attest(REPORT_DATA)


def test_configfs_oversized_outblob(tmp_path: Path) -> None:
    fake = FakeTsm(tmp_path / "report", generate=lambda inblob, level: b"x" * (33 << 10))
    with pytest.raises(AttestError, match="larger than"):
        attester_on(fake).attest(REPORT_DATA)


def test_evidence_from_json_errors() -> None:
    doc = NilAttester().attest(REPORT_DATA).to_json()
    del doc["provider"]
    with pytest.raises(ConfigError, match="provider"):
        Evidence.from_json(doc)
    doc = NilAttester().attest(REPORT_DATA).to_json()
    doc["evidence_b64"] = "!!"
    with pytest.raises(ConfigError, match="malformed"):
        Evidence.from_json(doc)
