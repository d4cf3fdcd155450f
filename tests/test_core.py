from __future__ import annotations

import datetime as dt

import pytest

from elsewhere.claims import (
    EMULATED_WARNING,
    UNVERIFIED_WARNING,
    Claims,
    Failure,
    Tee,
    Vendor,
    VerificationResult,
)
from elsewhere.cli import main
from elsewhere.errors import InputError
from elsewhere.timeutil import parse_time


def _claims(**overrides: object) -> Claims:
    base: dict[str, object] = dict(
        vendor=Vendor.AMD,
        tee=Tee.SEV_SNP,
        generation="Genoa",
        report_version=3,
        signer="VCEK",
        debug=False,
        smt=True,
        report_data="00" * 64,
        tcb={"bootloader": 3, "tee": 0, "snp": 8, "microcode": 115},
    )
    base.update(overrides)
    return Claims(**base)  # type: ignore[arg-type]


def test_claims_are_immutable() -> None:
    claims = _claims()
    with pytest.raises(AttributeError):
        claims.debug = True  # type: ignore[misc]
    with pytest.raises(TypeError):
        claims.tcb["snp"] = 1  # type: ignore[index]


def test_result_json_is_stable_and_marks_emulation() -> None:
    at = dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    result = VerificationResult(
        claims=_claims(emulated=True),
        failures=(Failure("report signature", "invalid", "valid ECDSA P-384 by the VCEK"),),
        verified_at=at,
        evidence_kind="sev-snp-report",
    )
    doc = result.to_json()
    assert doc["schema"] == "elsewhere.claims/1"
    assert doc["verified"] is False
    assert doc["verified_at"] == "2025-01-02T03:04:05Z"
    assert doc["protection"] == EMULATED_WARNING
    assert doc["failures"][0]["check"] == "report signature"
    assert doc["claims"]["tcb"] == {"bootloader": 3, "tee": 0, "snp": 8, "microcode": 115}


def test_parse_time_forms() -> None:
    assert parse_time("2024-05-01T12:00:00Z") == dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC)
    assert parse_time("2024-05-01").tzinfo is not None
    with pytest.raises(InputError, match="--at"):
        parse_time("yesterday-ish")


def test_cli_without_command_is_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2


def test_cli_unknown_command_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["no-such-command"])
    assert exit_info.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_failed_evidence_never_claims_hardware_protection() -> None:
    at = dt.datetime(2025, 1, 2, tzinfo=dt.UTC)
    failed = VerificationResult(
        claims=_claims(),
        failures=(Failure("ARK fingerprint", "unknown root", "pinned AMD ARK"),),
        verified_at=at,
        evidence_kind="sev-snp-report",
    )
    assert failed.protection == UNVERIFIED_WARNING
    verified = VerificationResult(_claims(), (), at, "sev-snp-report")
    assert verified.protection == "hardware-attested (AMD sev-snp)"


def test_result_json_round_trip() -> None:
    at = dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    original = VerificationResult(
        claims=_claims(advisory_ids=("INTEL-SA-00615",), flags={"smt": True}),
        failures=(Failure("tcb", "2", "3"),),
        verified_at=at,
        evidence_kind="sev-snp-report",
        notices=("reserved bit 7 set",),
    )
    assert VerificationResult.from_json(original.to_json()) == original


@pytest.mark.parametrize(
    "doc",
    [{}, {"claims": {}}, {"claims": {"vendor": "Zilog"}, "verified_at": "2025-01-01T00:00:00Z"}],
)
def test_result_from_malformed_json_is_one_input_error(doc: dict[str, object]) -> None:
    with pytest.raises(InputError, match=r"(verification result|claims) JSON"):
        VerificationResult.from_json(doc)


def test_command_table_names_what_each_module_registers() -> None:
    import argparse
    import importlib

    from elsewhere.cli import COMMAND_MODULES, COMMANDS, SUMMARIES

    registered: dict[str, str] = {}
    helps: dict[str, str | None] = {}
    for module in COMMAND_MODULES:
        commands = argparse.ArgumentParser().add_subparsers()
        importlib.import_module(module).register(commands)
        registered |= dict.fromkeys(commands.choices, module)
        helps |= {action.dest: action.help for action in commands._choices_actions}
    assert registered == COMMANDS
    assert helps == SUMMARIES  # what `elsewhere --help` lists without importing the modules


def test_help_and_version_import_no_command_module() -> None:
    import subprocess
    import sys

    from elsewhere import __version__

    probe = (
        "import sys, contextlib, io\n"
        "from elsewhere.cli import main\n"
        "out = io.StringIO()\n"
        "for argv in (['--version'], ['--help'], ['no-such-command']):\n"
        "    with contextlib.suppress(SystemExit), contextlib.redirect_stdout(out), "
        "contextlib.redirect_stderr(out):\n"
        "        main(argv)\n"
        "loaded = [m for m in sys.modules if m.startswith('elsewhere.cli.') or m == 'httpx']\n"
        "print(out.getvalue()); print('LOADED', loaded)"
    )
    shown = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert f"elsewhere {__version__}" in shown and "deployment" in shown
    assert "invalid choice: 'no-such-command'" in shown
    assert "LOADED ['elsewhere.cli.exitcodes']" in shown, shown


def test_a_command_imports_only_its_own_module() -> None:
    import subprocess
    import sys

    probe = (
        "import sys\n"
        "from elsewhere.cli import build_parser\n"
        "build_parser('policy')\n"
        "heavy = ('fastapi', 'uvicorn', 'matplotlib', 'elsewhere.control')\n"
        "print(','.join(m for m in heavy if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == ""
