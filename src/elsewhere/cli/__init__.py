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
# help and unknown commands import them all. tests/test_core.py checks this table.
COMMANDS: dict[str, str] = {
    "advisories": "elsewhere.cli.advisories",
    "collateral": "elsewhere.cli.collateral",
    "commons": "elsewhere.cli.commons",
    "custodian": "elsewhere.cli.custodian",
    "demo": "elsewhere.cli.demo",
    "diagram": "elsewhere.cli.diagram",
    "deploy": "elsewhere.cli.deploy",
    "ear": "elsewhere.cli.ear",
    "emulate": "elsewhere.cli.emulate",
    "evidence": "elsewhere.cli.evidence",
    "host": "elsewhere.cli.host",
    "host-token": "elsewhere.cli.host",
    "keep": "elsewhere.cli.keep",
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
    modules = (COMMANDS[command],) if command in COMMANDS else COMMAND_MODULES
    for name in modules:
        importlib.import_module(name).register(commands)
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
