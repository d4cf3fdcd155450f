"""`elsewhere keep`: build example workloads, run a module in a local keep, make tenant keys.

`keep run` runs on this machine with the nil attester: it shows what the workload does and
its isolation report, with no hardware protection (the report says so).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from elsewhere.cli.exitcodes import EXIT_OK, EXIT_REFUSED
from elsewhere.cli.inputs import MAX_UPLOAD_BYTES, read_input
from elsewhere.crypto.hpke import SUITES, suite_named
from elsewhere.crypto.keyfile import TenantKey
from elsewhere.i18n import _, localize
from elsewhere.keep.config import KeepConfig, check_secret_name
from elsewhere.keep.isolation import isolation_report
from elsewhere.keep.limits import KeepLimits
from elsewhere.keep.runtime import run_module
from elsewhere.keep.wat import build_wat_file


def _pair(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=VALUE")
    return name, value


def _optional_number(kind: type[int] | type[float]) -> Any:
    def parse(text: str) -> int | float | None:
        if text == "off":
            return None
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: expected a number or 'off'") from None

    return parse


def register(commands: Any) -> None:
    group = commands.add_parser("keep", help="build and run WebAssembly workloads in a local keep")
    sub = group.add_subparsers(title="keep commands", metavar="COMMAND")

    build = sub.add_parser("build", help="compile a .wat file to .wasm and print its digest")
    build.add_argument("source", type=Path, metavar="SRC.wat")
    build.add_argument("-o", "--output", type=Path, metavar="OUT.wasm")
    build.set_defaults(handler=run_build)

    run = sub.add_parser(
        "run", help="run a module here (nil host: no hardware protection) and show its report"
    )
    run.add_argument("module", type=Path, metavar="MODULE.wasm")
    run.add_argument("--arg", action="append", default=[], help="argument (repeatable)")
    run.add_argument("--env", action="append", default=[], type=_pair, metavar="NAME=VALUE")
    run.add_argument("--stdin", type=Path, metavar="FILE", help="file given as stdin")
    run.add_argument(
        "--secret",
        action="append",
        default=[],
        type=_pair,
        metavar="NAME=FILE",
        help="file readable by the workload as /secrets/NAME (repeatable)",
    )
    run.add_argument("--memory-mib", type=int, default=64)
    run.add_argument("--fuel", type=_optional_number(int), default=10_000_000_000)
    run.add_argument("--wall-time", type=_optional_number(float), default=30.0, metavar="S")
    run.add_argument("--json", action="store_true", help="result and report as one JSON object")
    run.set_defaults(handler=run_run)

    keygen = sub.add_parser("keygen", help="create a tenant HPKE key (results sealed to you)")
    keygen.add_argument("path", type=Path, metavar="KEY", help="private key file (mode 0600)")
    keygen.add_argument("--suite", default="mlkem768-x25519", choices=sorted(SUITES))
    keygen.add_argument("--public", type=Path, metavar="PUB", help="default KEY.pub")
    keygen.set_defaults(handler=run_keygen)
    group.set_defaults(handler=lambda _args: group.print_help(sys.stderr) or 2)


def run_build(args: argparse.Namespace) -> int:
    read_input(args.source, "WAT source", limit=MAX_UPLOAD_BYTES)
    target = build_wat_file(args.source, args.output)
    print(f"{target}  sha384:{hashlib.sha384(target.read_bytes()).hexdigest()}")
    return EXIT_OK


def run_run(args: argparse.Namespace) -> int:
    module = read_input(args.module, "module", limit=MAX_UPLOAD_BYTES)
    secrets = {
        check_secret_name(name): read_input(Path(file), "secret", limit=MAX_UPLOAD_BYTES)
        for name, file in args.secret
    }
    limits = KeepLimits(
        memory_bytes=args.memory_mib << 20, fuel=args.fuel, wall_time_s=args.wall_time
    )
    config = KeepConfig(
        workload_digest=hashlib.sha384(module).digest(),
        args=tuple(args.arg),
        env=dict(args.env),
        limits=limits,
        secret_names=tuple(sorted(secrets)),
        attester_kind="nil",
    )
    stdin = read_input(args.stdin, "stdin", limit=MAX_UPLOAD_BYTES) if args.stdin else b""
    result = run_module(module, config, stdin=stdin, secrets=secrets)
    report = isolation_report(config, None)
    if args.json:
        print(json.dumps({"result": result.to_json(), "isolation": report.to_json()}, indent=2))
    else:
        sys.stdout.buffer.write(result.stdout)
        sys.stdout.flush()
        sys.stderr.buffer.write(result.stderr)
        ending = (
            _("exit code {code}").format(code=result.exit_code)
            if result.outcome == "exited"
            else result.outcome
        )
        detail = f" ({result.trap})" if result.trap else ""
        print(
            "-- "
            + _("{ending}; fuel {fuel}; {run} ms run, {compile} ms compile").format(
                ending=ending + detail,
                fuel=result.fuel_consumed,
                run=f"{result.wall_time_s * 1000:.1f}",
                compile=f"{result.compile_time_s * 1000:.1f}",
            ),
            file=sys.stderr,
        )
        rendered = report.render()
        print("\n".join(_localized(line) for line in rendered.splitlines()), file=sys.stderr)
    return EXIT_OK if result.ok else EXIT_REFUSED


def _localized(line: str) -> str:
    """One line of a report, its indentation and bullet kept, its text in the reader's language."""
    text = line.lstrip(" -")
    return line[: len(line) - len(text)] + localize(text)


def run_keygen(args: argparse.Namespace) -> int:
    key = TenantKey.create(args.path, suite_named(args.suite))
    public = args.public or args.path.with_name(args.path.name + ".pub")
    key.save_public(public)
    print(
        _("private key {path} (mode 0600), public key {public}").format(
            path=args.path, public=public
        )
    )
    print(
        _("suite {suite}, key id {id}").format(
            suite=key.suite.name, id="sha256:" + key.public_key.fingerprint()
        )
    )
    return EXIT_OK
