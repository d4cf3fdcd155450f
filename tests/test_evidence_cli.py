"""`elsewhere evidence verify`, `emulate` and `demo`: exit codes 0 / 1 / 2, one-line errors,
stable JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from elsewhere.claims import CLAIMS_SCHEMA, EMULATED_WARNING
from elsewhere.cli import main

Capture = pytest.CaptureFixture[str]


def _ms_genoa(vectors: Path) -> list[str]:
    snp = vectors / "snp"
    return [
        str(snp / "ms-genoa" / "genoa_attestation_report.bin"),
        "--vcek",
        str(snp / "ms-genoa" / "genoa_vcek.pem"),
        "--chain",
        str(snp / "_amd-roots" / "genoa_ask.pem"),
        "--chain",
        str(snp / "_amd-roots" / "genoa_ark.pem"),
    ]


def _one_error_line(capsys: Capture) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_verified_real_report_table_and_json(vectors: Path, capsys: Capture) -> None:
    args = ["evidence", "verify", *_ms_genoa(vectors), "--at", "2026-03-01T00:00:00Z"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert out.startswith("VERIFIED: sev-snp-report")
    assert "generation          Genoa" in out and "bootloader=10" in out
    assert main([*args, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema"] == CLAIMS_SCHEMA and doc["verified"] is True
    assert doc["claims"]["generation"] == "Genoa" and doc["claims"]["emulated"] is False
    assert doc["claims"]["tcb"] == {"bootloader": 10, "tee": 0, "snp": 23, "microcode": 84}
    assert list(doc) == [
        "schema",
        "evidence_kind",
        "verified",
        "verified_at",
        "protection",
        "failures",
        "notices",
        "claims",
    ]


def test_failed_verification_exits_1_with_reasons(
    vectors: Path, tmp_path: Path, capsys: Capture
) -> None:
    report = bytearray((vectors / "snp/ms-genoa/genoa_attestation_report.bin").read_bytes())
    report[0x90] ^= 1
    tampered = tmp_path / "tampered.bin"
    tampered.write_bytes(bytes(report))
    args = ["evidence", "verify", *_ms_genoa(vectors), "--at", "2026-03-01", "--json"]
    args[2] = str(tampered)
    assert main(args) == 1
    doc = json.loads(capsys.readouterr().out)
    assert [f["check"] for f in doc["failures"]] == ["report signature"]
    # A time before the VCEK existed: parsed, not verified.
    assert main(["evidence", "verify", *_ms_genoa(vectors), "--at", "2020-01-01"]) == 1
    assert "VCEK validity" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x02\x00\x00\x00" + bytes(100), "truncated"),
        (b"\x02\x00\x00\x00" + bytes(0x4A0), "oversized"),
        (b"\x04\x00\x00\x00" + bytes(0x49C), "unsupported report version 4"),
        (b"\x89PNG\r\n\x1a\n" + bytes(64), "unknown format"),
        (b"", "empty"),
    ],
)
def test_unusable_evidence_exits_2_in_one_line(
    tmp_path: Path, capsys: Capture, content: bytes, message: str
) -> None:
    path = tmp_path / "evidence.bin"
    path.write_bytes(content)
    assert main(["evidence", "verify", str(path)]) == 2
    assert message in _one_error_line(capsys)


def test_bad_options_exit_2(vectors: Path, tmp_path: Path, capsys: Capture) -> None:
    report = str(vectors / "snp/ms-genoa/genoa_attestation_report.bin")
    bad_pem = tmp_path / "bad.pem"
    bad_pem.write_bytes(b"-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n")
    assert main(["evidence", "verify", report, "--vcek", str(bad_pem)]) == 2
    assert "--vcek" in _one_error_line(capsys)
    assert main(["evidence", "verify", report, "--chain", str(tmp_path / "missing.pem")]) == 2
    assert "missing.pem" in _one_error_line(capsys)
    assert main(["evidence", "verify", report, "--at", "soon"]) == 2
    assert "--at" in _one_error_line(capsys)
    table = tmp_path / "table.bin"
    table.write_bytes(bytes(10))
    assert main(["evidence", "verify", report, "--certs", str(table)]) == 2
    assert "certificate table" in _one_error_line(capsys)


def test_emulate_then_verify(tmp_path: Path, capsys: Capture) -> None:
    root = tmp_path / "root"
    assert main(["emulate", "snp-root", str(root), "--generation", "Turin"]) == 0
    assert EMULATED_WARNING in capsys.readouterr().out
    out = tmp_path / "report.bin"
    args = ["emulate", "snp-report", str(root), "--report-data", "ab" * 64, "--debug"]
    assert main([*args, "--tcb", "snp=9", "-o", str(out)]) == 0
    capsys.readouterr()
    certs = f"{out}.certs"
    verify = ["evidence", "verify", str(out), "--certs", certs, "--json"]
    assert main([*verify, "--trust-emulated-root", str(root / "ark.pem")]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["protection"] == EMULATED_WARNING and doc["claims"]["emulated"] is True
    assert doc["claims"]["debug"] is True and doc["claims"]["tcb"]["snp"] == 9
    assert doc["claims"]["report_data"] == "ab" * 64
    assert main(verify) == 1  # the emulated root is never trusted implicitly
    assert json.loads(capsys.readouterr().out)["failures"][0]["check"] == "ARK"
    with pytest.raises(SystemExit) as usage:
        main([*args[:3], "--report-data", "zz", "-o", str(out)])
    assert usage.value.code == 2
    assert "--report-data" in _one_error_line(capsys)
    assert (
        main(
            ["emulate", "snp-report", str(tmp_path / "nope"), "--report-data", "00", "-o", str(out)]
        )
        == 2
    )
    _one_error_line(capsys)
