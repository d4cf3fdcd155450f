"""`elsewhere emulate`: emulated SEV-SNP and Intel TDX platforms for development.

NO HARDWARE PROTECTION: each platform is a root and keys in a directory; a verifier accepts
its evidence only when given that root explicitly, and marks every such result emulated.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from elsewhere.claims import EMULATED_WARNING
from elsewhere.cli.exitcodes import EXIT_OK
from elsewhere.errors import InputError
from elsewhere.evidence.dcap.emulate import EmulatedTdxPlatform
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
    _register_tdx(sub)
    group.set_defaults(handler=lambda _args: group.print_help(sys.stderr) or 2)


def run_root(args: argparse.Namespace) -> int:
    platform = EmulatedSnpPlatform.create(args.directory, args.generation, tcb=args.tcb)
    tcb = ", ".join(f"{k}={v}" for k, v in platform.tcb.items())
    print(
        _("emulated {generation} SEV-SNP platform in {directory} ({tcb})").format(
            generation=platform.generation, directory=platform.directory, tcb=tcb
        )
    )
    _print_root(platform.root_path, platform.trust_anchor.fingerprint)
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
        f"--trust-emulated-root {platform.root_path}"
    )
    print(_("WARNING: {warning}").format(warning=localize(EMULATED_WARNING)))
    return EXIT_OK


def _print_root(path: Path, fingerprint: str) -> None:
    print(f"trust anchor: {path} sha256 {fingerprint}")
    print(
        _(
            "a control plane trusts it once the file is in its emulated-roots directory "
            "(default <data-dir>/emulated-roots/, or serve --emulated-roots DIR; no restart)"
        )
    )


def _register_tdx(sub: Any) -> None:
    root = sub.add_parser(
        "tdx-root",
        help="create an emulated Intel TDX platform: root, PCK chain, TCB signer, keys in DIR",
    )
    root.add_argument("directory", metavar="DIR")
    root.set_defaults(handler=run_tdx_root)
    quote = sub.add_parser("tdx-quote", help="sign an emulated TDX quote with DIR's keys")
    quote.add_argument("directory", metavar="DIR")
    quote.add_argument("--report-data", required=True, type=parse_report_data, metavar="HEX")
    quote.add_argument("-o", "--output", required=True, metavar="OUT", help="quote file")
    quote.set_defaults(handler=run_tdx_quote)
    collateral = sub.add_parser(
        "tdx-collateral",
        help="sign collateral (TCB Info, QE Identity, CRLs) for DIR's platform, as dcap-qvl JSON",
    )
    collateral.add_argument("directory", metavar="DIR")
    collateral.add_argument("-o", "--output", required=True, metavar="OUT", help="JSON file")
    collateral.add_argument(
        "--days", type=int, default=30, help="how long it stays current (default 30)"
    )
    collateral.set_defaults(handler=run_tdx_collateral)


def run_tdx_root(args: argparse.Namespace) -> int:
    platform = EmulatedTdxPlatform.create(args.directory)
    print(
        _("emulated Intel TDX platform in {directory} (FMSPC {fmspc})").format(
            directory=platform.directory, fmspc=platform.fmspc.hex()
        )
    )
    _print_root(platform.root_path, platform.trust_anchor.fingerprint)
    print(_("WARNING: {warning}").format(warning=localize(EMULATED_WARNING)))
    return EXIT_OK


def run_tdx_quote(args: argparse.Namespace) -> int:
    platform = EmulatedTdxPlatform.load(args.directory)
    out = Path(args.output)
    quote = platform.attest(args.report_data)
    _write(out, quote)
    print(_("wrote {path} ({size} bytes)").format(path=out, size=len(quote)))
    print(
        f"verify: elsewhere evidence verify {out} --collateral COLLATERAL.json "
        f"--trust-emulated-root {platform.root_path}"
    )
    print(_("WARNING: {warning}").format(warning=localize(EMULATED_WARNING)))
    return EXIT_OK


def run_tdx_collateral(args: argparse.Namespace) -> int:
    if not 1 <= args.days <= 3650:
        raise InputError("--days", str(args.days), N_("expected 1 to 3650"))
    platform = EmulatedTdxPlatform.load(args.directory)
    out = Path(args.output)
    _write(out, json.dumps(platform.collateral(days=args.days).to_json(), indent=1).encode())
    print(
        _("wrote {path}: emulated collateral, current for {days} days").format(
            path=out, days=args.days
        )
    )
    # The control plane looks collateral up in its cache; the cache checks it under the root.
    print(f"import: elsewhere collateral import {out} --trust-emulated-root {platform.root_path}")
    print(_("WARNING: {warning}").format(warning=localize(EMULATED_WARNING)))
    return EXIT_OK
