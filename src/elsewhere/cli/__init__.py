"""`elsewhere` command line: one sub-command group per module, errors as one line + exit code.

Each module in COMMAND_MODULES defines `register(commands)` that adds its parsers and sets
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
from elsewhere.errors import EXIT_BAD_INPUT, EXIT_INTERNAL, ElsewhereError

COMMAND_MODULES: tuple[str, ...] = (
    # one line per command group; keep alphabetical
    "elsewhere.cli.advisories",
    "elsewhere.cli.collateral",
    "elsewhere.cli.demo",
    "elsewhere.cli.deploy",
    "elsewhere.cli.emulate",
    "elsewhere.cli.evidence",
    "elsewhere.cli.host",
    "elsewhere.cli.keep",
    "elsewhere.cli.ledger",
    "elsewhere.cli.operator",
    "elsewhere.cli.policy",
    "elsewhere.cli.results",
    "elsewhere.cli.risk",
    "elsewhere.cli.serve",
    "elsewhere.cli.tenant",
)


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line with exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="elsewhere",
        description="Run WebAssembly workloads only on hosts whose hardware evidence satisfies "
        "your policy.",
    )
    parser.add_argument("--version", action="version", version=f"elsewhere {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_BAD_INPUT
    try:
        return int(handler(args))
    except ElsewhereError as error:
        print(f"elsewhere: {error.message}", file=sys.stderr)
        return error.exit_code
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
