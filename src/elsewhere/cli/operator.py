"""`elsewhere operator advisories FEED` and `elsewhere operator hosts`: operator actions over
the API (an operator token from `elsewhere operator-token create`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from elsewhere.cli.exitcodes import EXIT_OK
from elsewhere.cli.results import word
from elsewhere.cli.serve import add_client_args, client
from elsewhere.cli.table import add_json_flag, print_json, render_table
from elsewhere.errors import InputError
from elsewhere.i18n import _, localize


def register(commands: Any) -> None:
    group = commands.add_parser("operator", help="operator actions on a running control plane")
    sub = group.add_subparsers(title="operator commands", metavar="COMMAND")
    advisories = sub.add_parser(
        "advisories", help="import an advisory feed; running keeps are re-checked"
    )
    advisories.add_argument("feed", type=Path, help="elsewhere.advisories/1 JSON feed")
    add_json_flag(advisories)
    add_client_args(advisories)
    advisories.set_defaults(handler=run_advisories)
    hosts = sub.add_parser(
        "hosts",
        help="list hosts: state, last attested (overdue keeps flagged), last verified "
        "platform, attestations refused in a row",
    )
    add_json_flag(hosts)
    add_client_args(hosts)
    hosts.set_defaults(handler=run_hosts)


def run_advisories(args: argparse.Namespace) -> int:
    try:
        feed = args.feed.read_bytes()
    except OSError as error:
        raise InputError("advisory feed", str(args.feed), error.strerror or "unreadable") from None
    with client(args) as api:
        answer = api.import_advisories(feed, args.feed.name)
    if args.json:
        print_json(answer)
        return EXIT_OK
    print(
        _("imported {count} advisories [ledger #{index}]").format(
            count=len(answer["imported"]), index=answer["ledger_index"]
        )
    )
    for action in answer["recheck"]:
        print(
            "  "
            + _("{action} keep {placement} on {host}: {reasons}").format(
                action=word(action["action"]),
                placement=action["placement"],
                host=action["host"],
                reasons="; ".join(localize(r) for r in action["reasons"]),
            )
            + (
                _(" (by {deadline})").format(deadline=action["deadline"])
                if action["deadline"]
                else ""
            )
        )
    if not answer["recheck"]:
        print("  " + _("no running keep is affected"))
    return EXIT_OK


def run_hosts(args: argparse.Namespace) -> int:
    with client(args) as api:
        rows = api.json("GET", "/v1/hosts")
    if args.json:
        print_json(rows)
        return EXIT_OK
    table = []
    for h in rows:
        claims = h["last_claims"] or {}
        platform = " ".join(
            str(x) for x in (claims.get("vendor"), claims.get("tee"), claims.get("generation")) if x
        )
        if claims.get("emulated"):
            platform += " " + _("(emulated)")
        attested = h.get("last_attested") or "-"
        if h.get("overdue_keeps"):
            attested += " (" + _("{n} overdue").format(n=h["overdue_keeps"]) + ")"
        refusals = str(h.get("attest_refusals", 0))
        if not h.get("assignable", True):
            refusals += " (" + _("not assigned") + ")"
        table.append(
            (
                h["name"],
                h["attester"],
                word(h["state"]),
                h["last_seen"],
                attested,
                platform or "-",
                refusals,
            )
        )
    header = (
        _("name"),
        _("attester"),
        _("state"),
        _("last seen"),
        _("last attested"),
        _("last verified"),
        _("refusals"),
    )
    print(render_table(header, table))
    return EXIT_OK
