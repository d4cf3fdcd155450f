"""`elsewhere evidence verify` on DCAP quotes and `elsewhere collateral import|list`: exit codes
0 verified / 1 failed / 2 unusable, one-line errors, offline use through the cache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dcap_support import CASES
from elsewhere.cli import main

GCP, NOTCB = CASES[5], CASES[1]


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ELSEWHERE_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _verify(vectors: Path, case: object, *extra: str) -> list[str]:
    return ["evidence", "verify", str(vectors / case.quote), "--at", case.at, *extra]  # type: ignore[attr-defined]


def test_verify_with_collateral_json(vectors: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = _verify(vectors, GCP, "--collateral", str(vectors / GCP.collateral), "--json")
    assert main(args) == 1  # verified, but the TCB is OutOfDate: not attested as current
    doc = json.loads(capsys.readouterr().out)
    assert doc["verified"] and doc["claims"]["tcb_status"] == "OutOfDate"
    assert doc["claims"]["advisory_ids"] == list(GCP.advisories)
    assert doc["evidence_kind"] == "tdx-dcap-quote"


def test_failed_verification_exits_1(vectors: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(_verify(vectors, NOTCB, "--collateral", str(vectors / NOTCB.collateral))) == 1
    out = capsys.readouterr().out
    assert "NOT VERIFIED" in out and "TCB_NOT_SUPPORTED" in out


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b[:700], "signature data length at offset 632"),
        (lambda b: b"\x04\x00\x03\x00" + b[4:], "unknown format"),
        (lambda b: b"\x05\x00" + b[2:48] + b"\x09" + b[49:], "body descriptor.type"),
    ],
)
def test_unusable_quote_exits_2_with_one_line(
    vectors: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], mutate: object, message: str
) -> None:
    bad = tmp_path / "bad.bin"
    bad.write_bytes(mutate((vectors / GCP.quote).read_bytes()))  # type: ignore[operator]
    code = main(["evidence", "verify", str(bad), "--collateral", str(vectors / GCP.collateral)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and message in err


def test_missing_collateral_exits_2(vectors: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(_verify(vectors, GCP, "--collateral", "/nonexistent/c.json")) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(_verify(vectors, GCP)) == 2
    assert "elsewhere collateral import" in capsys.readouterr().err


def test_import_list_then_verify_offline(vectors: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["collateral", "import", str(vectors / GCP.collateral), "--json"]) == 0
    entry = json.loads(capsys.readouterr().out)
    assert (entry["tee"], entry["fmspc"], entry["ca"]) == ("tdx", "00806f050000", "platform")
    assert main(["collateral", "list"]) == 0
    assert "00806f050000" in capsys.readouterr().out
    assert main(_verify(vectors, GCP)) == 1
    assert "OutOfDate" in capsys.readouterr().out


def test_an_out_of_date_tcb_is_not_called_hardware_attested(
    vectors: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_verify(vectors, GCP, "--collateral", str(vectors / GCP.collateral))) == 1
    out = capsys.readouterr().out
    assert out.startswith("VERIFIED, TCB OutOfDate: tdx-dcap-quote")
    (protection,) = [line for line in out.splitlines() if line.startswith("protection")]
    assert "but TCB OutOfDate" in protection and "not attested as current" in protection
    # SEV-SNP-only rows are not shown for a TDX quote.
    rows = {line.split("  ")[0] for line in out.splitlines()}
    assert not rows & {"smt", "host_data", "chip_id"}, rows
    # An UpToDate TDX quote verifies with exit 0.
    current = CASES[0]
    assert main(_verify(vectors, current, "--collateral", str(vectors / current.collateral))) == 0
    assert capsys.readouterr().out.startswith("VERIFIED: tdx-dcap-quote")


def test_import_refused_and_unusable(
    vectors: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = json.loads((vectors / GCP.collateral).read_text())
    doc["qe_identity_signature"] = "00" * 64
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    assert main(["collateral", "import", str(bad)]) == 1
    assert "QE Identity signature" in capsys.readouterr().err
    bad.write_text("{not json")
    assert main(["collateral", "import", str(bad)]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
