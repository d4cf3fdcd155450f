"""`elsewhere advisories import|list`: keep a local copy of a security advisory feed."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from elsewhere.cli.exitcodes import EXIT_BAD_INPUT, EXIT_OK
from elsewhere.cli.inputs import read_input
from elsewhere.cli.table import render_table
from elsewhere.i18n import _
from elsewhere.policy.advisories import Advisory, parse_feed
from elsewhere.policy.store import AdvisoryStore


def register(commands: Any) -> None:
    group = commands.add_parser("advisories", help="import and list security advisories")
    sub = group.add_subparsers(title="advisories commands", metavar="COMMAND")
    imp = sub.add_parser(
        "import",
        help="validate a JSON advisory feed and merge it into the local store",
        description="Validate an advisory feed (schema in docs/policy.md) and merge it into "
        "$ELSEWHERE_HOME/advisories; an entry with a known ID replaces the stored one.",
    )
    imp.add_argument("file", metavar="FILE", help="feed file ('-' for stdin)")
    imp.set_defaults(handler=run_import)
    lst = sub.add_parser("list", help="list the stored advisories")
    lst.add_argument("--vendor", choices=("AMD", "Intel"), help="only this vendor's advisories")
    lst.add_argument("--json", action="store_true", help="print the stored feed as JSON")
    lst.set_defaults(handler=run_list)
    group.set_defaults(handler=lambda _args: group.print_help(sys.stderr) or EXIT_BAD_INPUT)


def run_import(args: argparse.Namespace) -> int:
    feed = parse_feed(read_input(args.file, "advisory feed"), args.file)
    store = AdvisoryStore()
    summary = store.import_set(feed)
    print(
        _(
            "imported {count} advisories from {file}: {added} added, {updated} updated, "
            "{unchanged} unchanged; {total} in {path}"
        ).format(
            count=len(feed),
            file=args.file,
            added=len(summary.added),
            updated=len(summary.updated),
            unchanged=len(summary.unchanged),
            total=summary.total,
            path=store.path,
        )
    )
    return EXIT_OK


def _affects(advisory: Advisory) -> str:
    if not advisory.affected:
        return "by ID (Intel TCB status)"
    parts = []
    for a in advisory.affected:
        scope = " ".join(x for x in (a.tee, a.generation, a.fmspc) if x)
        fixed = ", ".join(f"{c} {v}" for c, v in a.fixed_in)
        parts.append(f"{scope} below {fixed}" if fixed else f"{scope} (no fix listed)")
    return "; ".join(parts)


def run_list(args: argparse.Namespace) -> int:
    stored = AdvisoryStore().load()
    chosen = [a for a in stored.advisories if args.vendor in (None, a.vendor.value)]
    if args.json:
        print(json.dumps([a.to_json() for a in chosen], indent=2))
        return EXIT_OK
    if not chosen:
        print(
            _("no advisories stored; import a feed with {command}").format(
                command="'elsewhere advisories import FILE'"
            )
        )
        return EXIT_OK
    rows = [
        (a.id, a.vendor.value, a.severity.value, a.published, ", ".join(a.cves), _affects(a))
        for a in chosen
    ]
    print(render_table(("id", "vendor", "severity", "published", "CVEs", "affects"), rows))
    return EXIT_OK
