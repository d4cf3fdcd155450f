"""`elsewhere emulate`: an emulated SEV-SNP platform for development (NO hardware protection)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from elsewhere.claims import EMULATED_WARNING
from elsewhere.cli.exitcodes import EXIT_OK
from elsewhere.errors import InputError
from elsewhere.evidence.snp.emulate import GENERATIONS, EmulatedSnpPlatform
from elsewhere.i18n import N_, _, localize


# argparse types raise ArgumentTypeError: argparse turns it into one usage line and exit 2.
def parse_tcb(text: str) -> dict[str, int]:
    """'snp=23,microcode=84' -> {'snp': 23, 'microcode': 84}."""
    parts: dict[str, int] = {}
    for item in filter(None, (piece.strip() for piece in text.split(","))):
        name, sep, value = item.partition("=")
        if not sep or not value.strip().isdigit():
            raise argparse.ArgumentTypeError(f"{item!r}: expected name=number, e.g. snp=23")
        parts[name.strip()] = int(value)
    return parts


def parse_report_data(text: str) -> bytes:
    try:
        data = bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text[:20]!r} is not hex") from None
    if len(data) > 64:
        raise argparse.ArgumentTypeError(f"{len(data)} bytes; at most 64")
    return data


def register(commands: Any) -> None:
    group = commands.add_parser(
        "emulate", help="emulated TEE platforms for development (no hardware protection)"
    )
    sub = group.add_subparsers(title="emulate commands", metavar="COMMAND")
    root = sub.add_parser(
        "snp-root",
        help="create an emulated SEV-SNP platform: ARK, ASK, VCEK and keys in DIR",
    )
    root.add_argument("directory", metavar="DIR")
    root.add_argument("--generation", default="Genoa", choices=sorted(GENERATIONS))
    root.add_argument("--tcb", type=parse_tcb, default={}, help="e.g. snp=23,microcode=84")
    root.set_defaults(handler=run_root)
    report = sub.add_parser("snp-report", help="sign an emulated SEV-SNP report with DIR's VCEK")
    report.add_argument("directory", metavar="DIR")
    report.add_argument("--report-data", required=True, type=parse_report_data, metavar="HEX")
    report.add_argument("--debug", action="store_true", help="set the guest policy DEBUG bit")
    report.add_argument("--tcb", type=parse_tcb, default=None, help="report (and certify) a TCB")
    report.add_argument("-o", "--output", required=True, metavar="OUT", help="report file")
    report.add_argument(
        "--certs-out", metavar="FILE", help="certificate table (VCEK, ASK, ARK); default OUT.certs"
    )
    report.set_defaults(handler=run_report)
    group.set_defaults(handler=lambda _args: group.print_help(sys.stderr) or 2)


def run_root(args: argparse.Namespace) -> int:
    platform = EmulatedSnpPlatform.create(args.directory, args.generation, tcb=args.tcb)
    tcb = ", ".join(f"{k}={v}" for k, v in platform.tcb.items())
    print(
        _("emulated {generation} SEV-SNP platform in {directory} ({tcb})").format(
            generation=platform.generation, directory=platform.directory, tcb=tcb
        )
    )
    print(
        f"trust anchor: {platform.directory / 'ark.pem'} sha256 {platform.trust_anchor.fingerprint}"
    )
    print(_("WARNING: {warning}").format(warning=localize(EMULATED_WARNING)))
    return EXIT_OK


def _write(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as error:
        raise InputError("output", str(path), error.strerror or N_("cannot be written")) from None


def run_report(args: argparse.Namespace) -> int:
    platform = EmulatedSnpPlatform.load(args.directory)
    report, table = platform.attest(args.report_data, debug=args.debug, tcb=args.tcb)
    out = Path(args.output)
    certs = Path(args.certs_out) if args.certs_out else out.with_name(out.name + ".certs")
    _write(out, report)
    _write(certs, table)
    print(
        _("wrote {path} ({size} bytes) and certificate table {certs}").format(
            path=out, size=len(report), certs=certs
        )
    )
    print(
        f"verify: elsewhere evidence verify {out} --certs {certs} "
        f"--trust-emulated-root {platform.directory / 'ark.pem'}"
    )
    print(_("WARNING: {warning}").format(warning=localize(EMULATED_WARNING)))
    return EXIT_OK
