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
from typing import Any

from elsewhere import __version__
from elsewhere.cli.exitcodes import EXIT_BAD_INPUT, EXIT_INTERNAL, exit_code
from elsewhere.errors import ElsewhereError
from elsewhere.i18n import LANGUAGES, N_, _, localize, resolve, set_language

# Every command, and the module that registers it. Only the chosen command's module is
# imported (the others pull in FastAPI, SQLAlchemy, wasmtime, matplotlib: about a second);
# help and unknown commands import none. tests/test_core.py checks this table.
COMMANDS: dict[str, str] = {
    "advisories": "elsewhere.cli.advisories",
    "collateral": "elsewhere.cli.collateral",
    "commons": "elsewhere.cli.commons",
    "custodian": "elsewhere.cli.custodian",
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
    "vault": "elsewhere.cli.vault",
    "workload": "elsewhere.cli.deploy",
}
COMMAND_MODULES: tuple[str, ...] = tuple(dict.fromkeys(COMMANDS.values()))
# Each command's one-line help, for `elsewhere --help` and usage errors without importing any
# command module (so they answer in a few tens of ms; bench/bench_cli_startup.py). test_core.py
# checks it says what each module registers.
SUMMARIES: dict[str, str] = {
    "advisories": "import and list security advisories",
    "commons": "a data commons: parties, datasets, proposals, audit",
    "custodian": "an independent custodian of a data commons",
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
    "vault": "personal data under per-subject keys; erasure",
    "workload": "upload, list and delete WebAssembly workloads",
}


# argparse's own words (its headings, its help actions, the errors it reports), as messages:
# they reach the help formatter and `_Parser.error` already in English.
_USAGE = N_("usage: ")
_ARGPARSE_WORDS = frozenset(
    (
        N_("positional arguments"),
        N_("options"),
        N_("show this help message and exit"),
        N_("show program's version number and exit"),
        N_("the following arguments are required: {names}"),
        N_("unrecognized arguments: {names}"),
        N_("argument {argument}: invalid choice: {choice} (choose from {choices})"),
        N_("argument {argument}: expected one argument"),
        N_("argument {argument}: invalid {kind} value: {value}"),
    )
)


class _Help(argparse.HelpFormatter):
    """argparse's help in the current language: every help, description and heading is
    English in the command modules and translated here, when help is printed."""

    def start_section(self, heading: str | None) -> None:
        super().start_section(localize(heading) if heading else heading)

    def add_text(self, text: str | None) -> None:
        super().add_text(localize(text) if text else text)

    def add_usage(self, usage: Any, actions: Any, groups: Any, prefix: str | None = None) -> None:
        super().add_usage(usage, actions, groups, _(_USAGE) if prefix is None else prefix)

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = super()._get_help_string(action)
        return _(text) if text in _ARGPARSE_WORDS else localize(text) if text else text


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line with exit code 2, and helps in the
    current language."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Help)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(
            EXIT_BAD_INPUT,
            f"{self.prog}: " + _("error: {error}").format(error=localize(message)) + "\n",
        )


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; with a known `command`, only the module that registers it is imported."""
    parser = _Parser(
        prog="elsewhere",
        description=_(
            "Run WebAssembly workloads only on hosts whose hardware evidence satisfies your policy."
        ),
    )
    parser.add_argument("--version", action="version", version=f"elsewhere {__version__}")
    parser.add_argument(
        "--lang",
        metavar="LANG",
        help=_(
            "language of messages ({languages}); also after the command. Default: "
            "ELSEWHERE_LANG, then LC_ALL, LC_MESSAGES, LANG, then English. JSON output and "
            "reason codes do not change with it"
        ).format(languages=", ".join(LANGUAGES)),
    )
    commands = parser.add_subparsers(title=_("commands"), metavar="COMMAND", parser_class=_Parser)
    if command not in COMMANDS:  # help, --version, or an unknown command: no module needed
        for name, summary in SUMMARIES.items():
            commands.add_parser(name, help=summary)
        return parser
    importlib.import_module(COMMANDS[command]).register(commands)
    return parser


def _take_lang(arguments: list[str]) -> tuple[list[str], str | None]:
    """`--lang X` / `--lang=X` anywhere on the line (before or after the command), removed."""
    rest: list[str] = []
    chosen: str | None = None
    items = iter(arguments)
    for argument in items:
        if argument == "--":
            rest.append(argument)
            rest.extend(items)
            break
        if argument == "--lang":
            chosen = next(items, "")
        elif argument.startswith("--lang="):
            chosen = argument.removeprefix("--lang=")
        else:
            rest.append(argument)
    return rest, chosen


def main(argv: Sequence[str] | None = None) -> int:
    arguments, chosen = _take_lang(list(sys.argv[1:] if argv is None else argv))
    try:
        set_language(resolve(chosen))
    except ElsewhereError as error:
        print(f"elsewhere: {error.message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    command = next((a for a in arguments if not a.startswith("-")), None)
    parser = build_parser(command)
    args = parser.parse_args(arguments)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_BAD_INPUT
    stdout = sys.stdout  # cli/connect.py flags every line of an --insecure-http command
    try:
        return int(handler(args))
    except ElsewhereError as error:
        print(f"elsewhere: {localize(error.message)}", file=sys.stderr)
        return exit_code(error)
    except KeyboardInterrupt:
        print("elsewhere: " + _("interrupted"), file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as error:  # a bug: still one line, the trace only on request
        if os.environ.get("ELSEWHERE_DEBUG"):
            traceback.print_exc()
        print(
            "elsewhere: "
            + _("internal error: {kind}: {error} (set ELSEWHERE_DEBUG=1 for the trace)").format(
                kind=type(error).__name__, error=error
            ),
            file=sys.stderr,
        )
        return EXIT_INTERNAL
    finally:
        sys.stdout = stdout


if __name__ == "__main__":
    raise SystemExit(main())
