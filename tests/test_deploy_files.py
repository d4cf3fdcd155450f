"""deploy/: the systemd units pass `systemd-analyze verify` (or, without it, parse as unit
files), and every `elsewhere` command line in the units and the Dockerfile parses with the
real CLI parser: each option exists and each value is accepted."""

from __future__ import annotations

import argparse
import configparser
import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from elsewhere.cli import build_parser

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
UNITS = ("elsewhere-serve.service", "elsewhere-host.service")
# Options that may be missing from the parser while the change adding them is in flight (none).
PENDING: set[str] = set()


def _exec_start(unit: str) -> list[str]:
    text = (DEPLOY / unit).read_text()
    (line,) = [x for x in text.splitlines() if x.startswith("ExecStart=")]
    return shlex.split(line.removeprefix("ExecStart=").replace("%H", "host1"))


def _options(sub: argparse.ArgumentParser) -> set[str]:
    return set(sub._option_string_actions)


def check_command(argv: list[str]) -> argparse.Namespace:
    """Parse `elsewhere ARGS…` as the CLI would; missing options other than PENDING fail."""
    assert Path(argv[0]).name == "elsewhere", argv
    command = argv[1]
    parser = build_parser(command)
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    known = _options(subparsers.choices[command])
    args, kept, skip = argv[1:], [], False
    for i, token in enumerate(args):
        if skip:
            skip = False
            continue
        name = token.split("=")[0]
        if token.startswith("--") and name not in known:
            assert name in PENDING, f"{command}: no option {name} (deploy/ is stale)"
            skip = "=" not in token and i + 1 < len(args) and not args[i + 1].startswith("--")
            continue
        kept.append(token)
    try:
        return parser.parse_args(kept)
    except SystemExit as stop:
        raise AssertionError(f"`elsewhere {' '.join(args)}` does not parse") from stop


@pytest.mark.parametrize("unit", UNITS)
def test_the_unit_files_are_valid(unit: str, tmp_path: Path) -> None:
    text = (DEPLOY / unit).read_text()
    # The program's path is the installation's; verify checks that it exists, so a copy
    # names one that does here. Nothing else changes.
    program = _exec_start(unit)[0]
    copy = tmp_path / unit
    copy.write_text(text.replace(program, shutil.which("true") or "/bin/true", 1))
    analyze = shutil.which("systemd-analyze")
    if analyze:
        done = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True)
        assert done.returncode == 0 and not done.stderr.strip(), done.stderr
    else:  # parse: the sections and keys every unit here needs
        units = configparser.ConfigParser(strict=False, interpolation=None)
        units.optionxform = str  # type: ignore[assignment,method-assign]
        units.read_string(text)
        assert {"Unit", "Service", "Install"} <= set(units.sections())
        assert units["Service"]["ExecStart"] and units["Install"]["WantedBy"]


@pytest.mark.parametrize("unit", UNITS)
def test_the_units_run_real_cli_commands(unit: str) -> None:
    argv = _exec_start(unit)
    args = check_command(argv)
    assert callable(args.handler)  # a leaf command, not a group
    if argv[1] == "serve":
        assert "--tls-cert" in argv and "--tls-key" in argv  # never plain HTTP off loopback
    else:
        assert args.control.startswith("https://") and "--token" not in argv  # token: env file


def test_the_dockerfile_runs_real_cli_commands() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    entrypoint = json.loads(re.search(r"^ENTRYPOINT (\[.*\])$", text, re.M).group(1))  # type: ignore[union-attr]
    command = json.loads(re.search(r"^CMD (\[.*\])$", text, re.M).group(1))  # type: ignore[union-attr]
    assert entrypoint == ["elsewhere"] and command[0] == "serve"
    check_command([*entrypoint, *command])
    assert "--tls-cert" in command and "--tls-key" in command
    # The host agent the header shows how to run.
    examples = [
        line.split("elsewhere ", 1)[1]
        for line in text.splitlines()
        if line.startswith("#") and re.search(r"\belsewhere (host|serve) ", line)
    ]
    assert examples and any(e.startswith("host ") for e in examples)
    for example in examples:
        check_command(["elsewhere", *shlex.split(example)])
