"""`elsewhere collateral import|list`: an offline store of Intel DCAP collateral."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from elsewhere.cli.exitcodes import EXIT_OK
from elsewhere.cli.table import render_table
from elsewhere.evidence.anchors import TrustAnchor
from elsewhere.evidence.dcap import cache
from elsewhere.evidence.dcap.collateral import load_collateral
from elsewhere.i18n import _


def register(commands: Any) -> None:
    group = commands.add_parser("collateral", help="store Intel DCAP collateral for offline use")
    sub = group.add_subparsers(title="collateral commands", metavar="COMMAND")
    imp = sub.add_parser(
        "import",
        help="validate and store a collateral bundle",
        description="Check the TCB Info and QE Identity signatures, their issuer chains to the "
        "pinned Intel SGX Root CA, both CRLs and that the parts share a validity window, then "
        "store the bundle keyed by TEE, FMSPC, CA and window. Exit 0 stored, 1 refused, "
        "2 unusable input.",
    )
    imp.add_argument("path", metavar="PATH", help="dcap-qvl JSON or a directory of PCS responses")
    imp.add_argument(
        "--trust-emulated-root",
        action="append",
        default=[],
        metavar="PEM",
        help="accept collateral signed under this EMULATED root (development only)",
    )
    imp.add_argument("--json", action="store_true", help="print the stored entry as JSON")
    imp.set_defaults(handler=run_import)
    lst = sub.add_parser("list", help="list stored collateral bundles")
    lst.add_argument("--json", action="store_true", help="print the entries as JSON")
    lst.set_defaults(handler=run_list)
    group.set_defaults(handler=lambda _args: group.print_help(sys.stderr) or 2)


def run_import(args: argparse.Namespace) -> int:
    roots = frozenset(
        bytes.fromhex(TrustAnchor.emulated_root_file(Path(p)).fingerprint)
        for p in args.trust_emulated_root
    )
    entry = cache.import_collateral(load_collateral(Path(args.path)), roots)
    if args.json:
        print(json.dumps(entry.to_json(), indent=2))
    else:
        print(
            f"stored {entry.tee} FMSPC {entry.fmspc} ({entry.ca} CA), current "
            f"{entry.to_json()['not_before']} .. {entry.to_json()['not_after']}: {entry.path}"
            + (" " + _("[EMULATED: no hardware protection]") if entry.emulated else "")
        )
    return EXIT_OK


def run_list(args: argparse.Namespace) -> int:
    entries = cache.list_entries()
    if args.json:
        print(json.dumps([e.to_json() for e in entries], indent=2))
        return EXIT_OK
    rows = [(e.tee, e.fmspc, e.ca, *list(e.to_json().values())[3:5], e.path.name) for e in entries]
    print(render_table(("tee", "fmspc", "ca", "current from", "until", "file"), rows))
    return EXIT_OK
