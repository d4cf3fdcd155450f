"""`elsewhere deployment list|show|stop`, and the wait behind `results --follow` and
`deploy --wait`: repeated GETs with backoff (never a busy loop) until the deployment ends."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from elsewhere.cli.exitcodes import EXIT_OK, EXIT_REFUSED
from elsewhere.cli.serve import client, tenant_command
from elsewhere.cli.table import print_json, render_table
from elsewhere.i18n import _

if TYPE_CHECKING:
    from elsewhere.host.client import Client

# The deployment states that end (docs/cli.md); `active` is the only other one.
ENDED = ("completed", "failed", "stopped")
# Seconds between two GETs while nothing changes: from FIRST, doubling up to LAST; a change
# starts again from FIRST, so a deployment that moves is followed closely.
FIRST_INTERVAL, LAST_INTERVAL = 0.25, 5.0


def register(commands: Any) -> None:
    group = commands.add_parser("deployment", help="list, show and stop your deployments")
    sub = group.add_subparsers(title="deployment commands", metavar="COMMAND")
    tenant_command(sub, "list", help="your deployments, their state and replicas", handler=run_list)
    show = tenant_command(
        sub, "show", help="one deployment: its state and each replica's", handler=run_show
    )
    show.add_argument("deployment")
    stop = tenant_command(
        sub, "stop", help="stop a deployment: hosts stop its keeps", handler=run_stop
    )
    stop.add_argument("deployment")


def placement_line(p: dict[str, Any]) -> str:
    """`replica N: STATE [on HOST] [— NOTE]`; a replica no host holds yet says so."""
    where = f" on {p['host']}" if p.get("host") else ""
    if not where and p["state"] == "pending" and not p.get("note"):
        where = " (waiting for a host)"
    notes = [p["note"]] if p.get("note") else []
    refusal = p.get("refusal")
    if refusal and not any(refusal in note for note in notes):
        notes.append(refusal)  # re-placed after a host could not attest: still say why
    return f"replica {p['replica']}: {p['state']}{where}" + "".join(f" — {n}" for n in notes)


def attestation_line(p: dict[str, Any]) -> str:
    """`last attested T[, re-attest by T][ — OVERDUE]` for a running keep; '' otherwise."""
    if p["state"] != "released" or not p.get("attested_at"):
        return ""
    line = _("last attested {at}").format(at=p["attested_at"])
    if p.get("reattest_due"):
        line += ", " + _("re-attestation due {due}").format(due=p["reattest_due"])
    if p.get("overdue"):
        line += " — " + _("OVERDUE: evicted at {deadline}").format(
            deadline=p.get("reattest_deadline") or "?"
        )
    return line


def exit_status(view: dict[str, Any]) -> int:
    """1 when a replica failed (its workload or keep reported an error), else 0."""
    return EXIT_REFUSED if any(p["state"] == "failed" for p in view["placements"]) else EXIT_OK


def follow(
    api: Client,
    deployment: str,
    on_change: Callable[[dict[str, Any]], None],
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """GET the deployment until its state ends; `on_change` sees each view that differs from
    the one before (the first included). Returns the last view."""
    interval, last = FIRST_INTERVAL, None
    while True:
        view: dict[str, Any] = api.deployment(deployment)
        if view != last:
            on_change(view)
            interval, last = FIRST_INTERVAL, view
        else:
            interval = min(interval * 2, LAST_INTERVAL)
        if view["state"] in ENDED:
            return view
        sleep(interval)


def progress_printer() -> Callable[[dict[str, Any]], None]:
    """Prints each replica's line and each decision once, as they appear."""
    seen: set[str] = set()

    def show(view: dict[str, Any]) -> None:
        lines = [placement_line(p) for p in view["placements"]]
        lines += [
            f"decision {d['at']} {d['host']}: {d['verdict']} ({d['action']})"
            + (f" — {'; '.join(d['reasons'])}" if d["reasons"] else "")
            for d in view["decisions"]
        ]
        lines.append(f"deployment {view['id']}: {view['state']}")
        for line in lines:
            if line not in seen:
                seen.add(line)
                print(line, flush=True)

    return show


def run_list(args: argparse.Namespace) -> int:
    with client(args) as api:
        rows = api.json("GET", "/v1/deployments")
    if args.json:
        print_json(rows)
        return EXIT_OK
    table = [
        (
            r["id"],
            r["state"],
            r["replicas"],
            ", ".join(f"{n} {s}" for s, n in r["placements"].items()),
            f"sha384:{r['workload'][:16]}…",
            r["created_at"],
        )
        for r in rows
    ]
    print(render_table(("id", "state", "replicas", "placements", "workload", "created"), table))
    return EXIT_OK


def run_show(args: argparse.Namespace) -> int:
    with client(args) as api:
        view = api.deployment(args.deployment)
    if args.json:
        print_json(view)
        return exit_status(view)
    print(f"deployment {view['id']}: {view['state']}, workload sha384:{view['workload'][:16]}…")
    print(f"created {view['created_at']}; {len(view['decisions'])} decision(s)")
    for p in view["placements"]:
        print("  " + placement_line(p))
        attested = attestation_line(p)
        if attested:
            print("    " + attested)
    print(f"results and decisions: elsewhere results {view['id']}")
    return exit_status(view)


def run_stop(args: argparse.Namespace) -> int:
    with client(args) as api:
        answer = api.json("POST", f"/v1/deployments/{args.deployment}/stop")
    if args.json:
        print_json(answer)
        return EXIT_OK
    if answer["stopped"]:
        print(
            f"deployment {answer['id']}: stopped {len(answer['stopped'])} replica(s); their "
            f"hosts stop the keeps [ledger #{answer['ledger_index']}]"
        )
    else:
        print(f"deployment {answer['id']}: {answer['state']} already; nothing to stop")
    return EXIT_OK
