from __future__ import annotations

import json
from pathlib import Path

import pytest

from elsewhere.cli import main

ROOT = Path(__file__).resolve().parent.parent
REFUSE_MILAN = str(ROOT / "examples" / "policy" / "refuse-milan.toml")
FEED = str(ROOT / "examples" / "advisories" / "example-feed.json")


def test_check_valid(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "check", REFUSE_MILAN]) == 0
    out = capsys.readouterr().out
    assert "refuse-milan" in out and "sha384:" in out
    assert main(["policy", "check", REFUSE_MILAN, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["policy"]["platforms"]["refuse"] == ["AMD:Milan"]


def test_check_invalid_lists_every_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        'version = 1\nname = "x"\nrevision = "1"\n[tee]\nallow_emulatd = true\n'
        "[tcb.sev-snp]\nmicrocde = 1\n"
    )
    assert main(["policy", "check", str(bad)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"elsewhere: policy: {bad}:5: tee.allow_emulatd: unknown key; allowed: accept, "
        "allow_debug, allow_emulated",
        f"elsewhere: policy: {bad}:7: tcb.sev-snp.microcde: not a sev-snp TCB component "
        "(bootloader, fmc, microcode, snp, tee)",
    ]


def test_check_syntax_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('version = 1\nname = "x\n')
    assert main(["policy", "check", str(bad)]) == 2
    assert f"{bad}:2: TOML syntax:" in capsys.readouterr().err


def test_eval_refuses_milan_and_accepts_genoa(
    vectors: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    milan = vectors / "snp" / "ms-milan"
    genoa = vectors / "snp" / "ms-genoa"
    common = ["--at", "2026-03-01T00:00:00Z", "--advisories", FEED]
    args = ["policy", "eval", REFUSE_MILAN, str(milan / "milan_attestation_report.bin")]
    chain = str(vectors / "snp" / "_amd-roots" / "kds_cert_chain_milan_vcek.pem")
    assert main([*args, "--vcek", str(milan / "milan_vcek.pem"), "--chain", chain, *common]) == 1
    out = capsys.readouterr().out
    assert "REFUSED" in out and "platforms.refuse  platform  AMD:Milan  not AMD:Milan" in out
    genoa_args = [
        "policy",
        "eval",
        REFUSE_MILAN,
        str(genoa / "genoa_attestation_report.bin"),
        "--vcek",
        str(genoa / "genoa_vcek.pem"),
        "--chain",
        str(vectors / "snp" / "_amd-roots" / "kds_cert_chain_genoa_vcek.pem"),
        "--json",
        *common,
    ]
    assert main(genoa_args) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["results"][0]["accepted"] is True
    assert doc["results"][0]["protection"] == "hardware-attested (AMD sev-snp)"


def test_eval_bad_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"abc")
    assert main(["policy", "eval", REFUSE_MILAN, str(junk), "--advisories", FEED]) == 2
    assert "UNUSABLE" in capsys.readouterr().out
    args = ["policy", "eval", REFUSE_MILAN, str(junk), "--report-data", "xyz"]
    assert main(args) == 2
    assert "--report-data" in capsys.readouterr().err
