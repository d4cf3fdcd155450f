"""`elsewhere` command line: one sub-command group per module, errors as one line + exit code.

Each module named in COMMANDS defines `register(commands)` that adds its parsers and sets
`handler` (args -> exit code) on each leaf parser.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from collections.abc import Sequence

from elsewhere import __version__
from elsewhere.cli.exitcodes import EXIT_BAD_INPUT, EXIT_INTERNAL, exit_code
from elsewhere.errors import ElsewhereError

# Every command, and the module that registers it. Only the chosen command's module is
# imported (the others pull in FastAPI, SQLAlchemy, wasmtime, matplotlib: about a second);
# help and unknown commands import none. tests/test_core.py checks this table.
COMMANDS: dict[str, str] = {
    "advisories": "elsewhere.cli.advisories",
    "collateral": "elsewhere.cli.collateral",
    "demo": "elsewhere.cli.demo",
    "diagram": "elsewhere.cli.diagram",
    "deploy": "elsewhere.cli.deploy",
    "deployment": "elsewhere.cli.deployment",
    "ear": "elsewhere.cli.ear",
    "emulate": "elsewhere.cli.emulate",
    "evidence": "elsewhere.cli.evidence",
    "host": "elsewhere.cli.host",
    "host-token": "elsewhere.cli.host",
    "keep": "elsewhere.cli.keep",
    "keys": "elsewhere.cli.keys",
    "ledger": "elsewhere.cli.ledger",
    "operator": "elsewhere.cli.operator",
    "operator-token": "elsewhere.cli.tenant",
    "policy": "elsewhere.cli.policy",
    "report-host": "elsewhere.cli.deploy",
    "results": "elsewhere.cli.results",
    "risk": "elsewhere.cli.risk",
    "secret": "elsewhere.cli.deploy",
    "serve": "elsewhere.cli.serve",
    "set-policy": "elsewhere.cli.deploy",
    "set-risk-budget": "elsewhere.cli.deploy",
    "tenant": "elsewhere.cli.tenant",
    "token": "elsewhere.cli.tenant",
    "workload": "elsewhere.cli.deploy",
}
COMMAND_MODULES: tuple[str, ...] = tuple(dict.fromkeys(COMMANDS.values()))
# Each command's one-line help, for `elsewhere --help` and usage errors without importing any
# command module (so they answer in a few tens of ms; bench/bench_cli_startup.py). test_core.py
# checks it says what each module registers.
SUMMARIES: dict[str, str] = {
    "advisories": "import and list security advisories",
    "collateral": "store Intel DCAP collateral for offline use",
    "demo": "run the end-to-end demonstration (emulated)",
    "deploy": "deploy N replicas of a workload",
    "deployment": "list, show and stop your deployments",
    "diagram": "diagrams of Elsewhere's own architecture",
    "ear": "EAR attestation results (draft-ietf-rats-ear)",
    "emulate": "emulated TEE platforms for development (no hardware protection)",
    "evidence": "verify attestation evidence",
    "host": "run a host agent: register, pull work, run keeps",
    "host-token": "host registration tokens (operator)",
    "keep": "build and run WebAssembly workloads in a local keep",
    "keys": "the key directory replicas share: init, rotate, rewrap",
    "ledger": "the tamper-evident log of trust decisions",
    "operator": "operator actions on a running control plane",
    "operator-token": "operator API tokens (advisories)",
    "policy": "check trust policies and apply them to evidence",
    "report-host": "report misbehaviour of the host that ran one of your placements",
    "results": "show a deployment's results and decisions",
    "risk": "risk-aware placement: explain, simulate",
    "secret": "store secrets (released only to attested keeps)",
    "serve": "run the control plane's HTTP API",
    "set-policy": "set your trust policy (TOML file)",
    "set-risk-budget": "set the annual risk you accept, e.g. 5000USD/yr",
    "tenant": "create and list tenants (operator)",
    "token": "list and revoke API tokens (operator)",
    "workload": "upload, list and delete WebAssembly workloads",
}


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line with exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; with a known `command`, only the module that registers it is imported."""
    parser = _Parser(
        prog="elsewhere",
        description="Run WebAssembly workloads only on hosts whose hardware evidence satisfies "
        "your policy.",
    )
    parser.add_argument("--version", action="version", version=f"elsewhere {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=_Parser)
    if command not in COMMANDS:  # help, --version, or an unknown command: no module needed
        for name, summary in SUMMARIES.items():
            commands.add_parser(name, help=summary)
        return parser
    importlib.import_module(COMMANDS[command]).register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in arguments if not a.startswith("-")), None)
    parser = build_parser(command)
    args = parser.parse_args(arguments)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_BAD_INPUT
    try:
        return int(handler(args))
    except ElsewhereError as error:
        print(f"elsewhere: {error.message}", file=sys.stderr)
        return exit_code(error)
    except KeyboardInterrupt:
        print("elsewhere: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as error:  # a bug: still one line, the trace only on request
        if os.environ.get("ELSEWHERE_DEBUG"):
            traceback.print_exc()
        print(
            f"elsewhere: internal error: {type(error).__name__}: {error}"
            " (set ELSEWHERE_DEBUG=1 for the trace)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


if __name__ == "__main__":
    raise SystemExit(main())
