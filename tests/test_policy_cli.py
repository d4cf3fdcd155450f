from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from elsewhere.claims import EMULATED_WARNING
from elsewhere.cli import main

ROOT = Path(__file__).resolve().parent.parent
REFUSE_MILAN = str(ROOT / "examples" / "policy" / "refuse-milan.toml")
DEMO = str(ROOT / "examples" / "policy" / "demo-emulated.toml")
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


@pytest.fixture(scope="module")
def emulated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """Per generation: the eval arguments for one emulated report binding report_data 'ab..'."""
    from elsewhere.evidence.snp.emulate import EmulatedSnpPlatform

    out: dict[str, list[str]] = {}
    for generation in ("Milan", "Genoa"):
        directory = tmp_path_factory.mktemp(generation)
        platform = EmulatedSnpPlatform.create(directory, generation)
        report, table = platform.attest(bytes.fromhex("ab" * 32))
        (directory / "report.bin").write_bytes(report)
        (directory / "certs.bin").write_bytes(table)
        out[generation] = [
            str(directory / "report.bin"),
            "--certs",
            str(directory / "certs.bin"),
            "--trust-emulated-root",
            str(directory / "ark.pem"),
            "--report-data",
            "ab" * 32,
            "--advisories",
            FEED,
            "--json",
        ]
    return out


def _eval(policy: str, args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, Any]:
    code = main(["policy", "eval", policy, *args])
    return code, json.loads(capsys.readouterr().out)["results"][0]


def test_demo_policy_accepts_emulated_genoa_and_says_so(
    emulated: dict[str, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    code, result = _eval(DEMO, emulated["Genoa"], capsys)
    assert code == 0 and result["accepted"] is True
    assert result["protection"] == EMULATED_WARNING


def test_demo_policy_still_refuses_emulated_milan(
    emulated: dict[str, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    code, result = _eval(DEMO, emulated["Milan"], capsys)
    assert code == 1
    assert [r["rule"] for r in result["reasons"]] == ["platforms.refuse"]


def test_refuse_milan_policy_refuses_emulated_evidence(
    emulated: dict[str, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    code, result = _eval(REFUSE_MILAN, emulated["Genoa"], capsys)
    assert code == 1
    assert [r["rule"] for r in result["reasons"]] == ["tee.allow_emulated"]


def test_wrong_report_data_is_refused(
    emulated: dict[str, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    args = [*emulated["Genoa"]]
    args[args.index("--report-data") + 1] = "cd" * 32
    code, result = _eval(DEMO, args, capsys)
    assert code == 1 and [r["rule"] for r in result["reasons"]] == ["binding"]
