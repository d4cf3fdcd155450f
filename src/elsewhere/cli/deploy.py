"""Tenant commands over the API: `workload upload|list|delete`, `secret put|list|delete`,
`set-policy`, `deploy [--wait]`, `set-risk-budget`, `report-host`. They read the control-plane
URL and the tenant token from --control / --token or ELSEWHERE_CONTROL / ELSEWHERE_TOKEN."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from elsewhere.cli.deployment import exit_status, follow, progress_printer
from elsewhere.cli.exitcodes import EXIT_OK
from elsewhere.cli.inputs import MAX_UPLOAD_BYTES, read_input
from elsewhere.cli.results import render, word
from elsewhere.cli.serve import client, tenant_command
from elsewhere.cli.table import print_json, render_table
from elsewhere.errors import InputError
from elsewhere.host.client import b64
from elsewhere.i18n import N_, _, localize, money


def register(commands: Any) -> None:
    workload = commands.add_parser("workload", help="upload, list and delete WebAssembly workloads")
    wsub = workload.add_subparsers(title="workload commands", metavar="COMMAND")
    upload = tenant_command(
        wsub,
        "upload",
        help="upload a .wasm module (validated; named by SHA-384)",
        handler=run_upload,
    )
    upload.add_argument("file", type=Path)
    upload.add_argument("--name", default=None)
    tenant_command(wsub, "list", help="list your workloads", handler=run_workloads)
    wdelete = tenant_command(
        wsub,
        "delete",
        help="delete a workload (refused while a deployment runs it)",
        handler=run_wl_delete,
    )
    wdelete.add_argument("workload", help="SHA-384 digest (or 12+ digit prefix) or workload id")

    secret = commands.add_parser("secret", help="store secrets (released only to attested keeps)")
    ssub = secret.add_subparsers(title="secret commands", metavar="COMMAND")
    put = tenant_command(
        ssub,
        "put",
        help="store a secret from --file, or from standard input",
        handler=run_secret_put,
    )
    put.add_argument("name")
    put.add_argument("--file", type=Path, default=None)
    tenant_command(
        ssub, "list", help="list secret names (values are never shown)", handler=run_secret_list
    )
    sdelete = tenant_command(
        ssub,
        "delete",
        help="delete a secret: it is released to no keep from now on",
        handler=run_sdelete,
    )
    sdelete.add_argument("name")

    policy = tenant_command(
        commands, "set-policy", help="set your trust policy (TOML file)", handler=run_set_policy
    )
    policy.add_argument("file", type=Path)

    deploy = tenant_command(
        commands, "deploy", help="deploy N replicas of a workload", handler=run_deploy
    )
    deploy.add_argument("workload", help="SHA-384 digest (or 12+ digit prefix)")
    deploy.add_argument("--replicas", type=int, default=1, help="how many keeps (default 1)")
    deploy.add_argument("--secret", action="append", default=[], help="secret name (repeat)")
    deploy.add_argument("--arg", action="append", default=[], help="argument (repeat)")
    deploy.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE", help="environment (repeat)"
    )
    deploy.add_argument("--stdin", type=Path, default=None, help="file given as stdin")
    deploy.add_argument(
        "--limit",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="keep limit, e.g. memory_bytes=33554432, fuel=1000000",
    )
    deploy.add_argument(
        "--result-key",
        type=Path,
        default=None,
        help="your HPKE public key file: results are sealed to it",
    )
    deploy.add_argument(
        "--impact",
        default=None,
        metavar="AMOUNT+CURRENCY",
        help="what compromise of this workload would cost, e.g. 10000USD (the control plane's "
        "default if absent); sizes each placement's risk",
    )
    deploy.add_argument(
        "--wait",
        action="store_true",
        help="follow the deployment until it ends, then print its results (exit 1 if a "
        "replica failed)",
    )

    budget = tenant_command(
        commands,
        "set-risk-budget",
        help="set the annual risk you accept, e.g. 5000USD/yr",
        handler=run_budget,
    )
    budget.add_argument("budget", nargs="?", help="AMOUNT+CURRENCY[/PERIOD]; omit to show it")

    report = tenant_command(
        commands,
        "report-host",
        help="report misbehaviour of the host that ran one of your placements",
        handler=run_report,
    )
    report.add_argument("placement", help="placement id (from `elsewhere results`)")
    report.add_argument("--note", default="", help="what happened (one line)")


def run_upload(args: argparse.Namespace) -> int:
    with client(args) as api:
        stored = api.upload_workload(
            read_input(args.file, "workload", limit=MAX_UPLOAD_BYTES), args.name or args.file.name
        )
    if args.json:
        print_json(stored)
        return EXIT_OK
    print(
        _("workload {name}: {digest} ({size} bytes)").format(
            name=stored["name"], digest="sha384:" + stored["digest"], size=stored["size"]
        )
    )
    return EXIT_OK


def run_workloads(args: argparse.Namespace) -> int:
    with client(args) as api:
        rows = api.json("GET", "/v1/workloads")
    if args.json:
        print_json(rows)
        return EXIT_OK
    print(
        render_table(
            (_("digest"), _("name"), _("size")),
            [(r["digest"][:24], r["name"], r["size"]) for r in rows],
        )
    )
    return EXIT_OK


def run_wl_delete(args: argparse.Namespace) -> int:
    with client(args) as api:
        answer = api.json("DELETE", f"/v1/workloads/{args.workload}")
    if args.json:
        print_json(answer)
        return EXIT_OK
    print(
        f"workload {answer['name']} (sha384:{answer['digest'][:16]}…) deleted: it can no longer "
        f"be deployed [ledger #{answer['ledger_index']}]"
    )
    return EXIT_OK


def run_sdelete(args: argparse.Namespace) -> int:
    with client(args) as api:
        answer = api.json("DELETE", f"/v1/secrets/{args.name}")
    if args.json:
        print_json(answer)
        return EXIT_OK
    print(
        f"secret {answer['name']} deleted: it is released to no keep from now on "
        f"[ledger #{answer['ledger_index']}]"
    )
    return EXIT_OK


def run_secret_put(args: argparse.Namespace) -> int:
    value = read_input(args.file or "-", "secret", limit=MAX_UPLOAD_BYTES)
    with client(args) as api:
        stored = api.put_secret(args.name, value)
    if args.json:
        print_json(stored)
        return EXIT_OK
    print(
        _("secret {name} stored (encrypted at rest; released only to attested keeps)").format(
            name=stored["name"]
        )
    )
    return EXIT_OK


def run_secret_list(args: argparse.Namespace) -> int:
    with client(args) as api:
        rows = api.json("GET", "/v1/secrets")
    if args.json:
        print_json(rows)
        return EXIT_OK
    print(render_table((_("name"), _("created")), [(r["name"], r["created_at"]) for r in rows]))
    return EXIT_OK


def run_set_policy(args: argparse.Namespace) -> int:
    document = read_input(args.file, "policy", limit=MAX_UPLOAD_BYTES).decode(
        "utf-8", errors="replace"
    )
    with client(args) as api:
        answer = api.set_policy(document)
    if args.json:
        print_json(answer)
        return EXIT_OK
    print(
        _("policy version {version}: {digest}").format(
            version=answer["version"], digest=answer["digest"]
        )
    )
    for action in answer["recheck"]:
        print(
            "  "
            + _("re-check: {action} keep {placement} on {host}: {reasons}").format(
                action=word(action["action"]),
                placement=action["placement"],
                host=action["host"],
                reasons="; ".join(localize(r) for r in action["reasons"]),
            )
        )
    return EXIT_OK


def _pairs(items: list[str], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise InputError(what, item, N_("expected NAME=VALUE"))
        out[name] = value
    return out


def run_deploy(args: argparse.Namespace) -> int:
    from elsewhere.control.scheduling.assign import money_text
    from elsewhere.crypto.keyfile import load_public_key

    limits: dict[str, Any] = {}
    for name, value in _pairs(args.limit, "--limit").items():
        try:
            limits[name] = json.loads(value)
        except ValueError:
            why = N_("{value} is not a number").format(value=repr(value))
            raise InputError("--limit", name, why) from None
    body: dict[str, Any] = {
        "workload": args.workload,
        "replicas": args.replicas,
        "secrets": args.secret,
        "args": args.arg,
        "env": _pairs(args.env, "--env"),
        "stdin": b64(read_input(args.stdin, "stdin", limit=MAX_UPLOAD_BYTES)) if args.stdin else "",
        "limits": limits,
    }
    if args.result_key:
        body["result_key"] = b64(load_public_key(args.result_key).encode())
    if args.impact:
        body["impact"] = money_text(args.impact, "--impact").to_json()
    with client(args) as api:
        created = api.deploy(body)
        if args.wait:
            if not args.json:
                _created(created)
            view = follow(api, created["id"], (lambda _: None) if args.json else progress_printer())
    if not args.wait:
        if args.json:
            print_json(created)
        else:
            _created(created)
            command = f"elsewhere results {created['id']} --follow"
            print(_("follow it with: {command}").format(command=command))
        return EXIT_OK
    if args.json:
        print_json(view)
    else:
        print(render(view, None))
    return exit_status(view)


def _created(created: dict[str, Any]) -> None:
    impact = created.get("impact")
    print(
        _("deployment {id}: {replicas} replica(s) of {digest}…").format(
            id=created["id"],
            replicas=created["replicas"],
            digest="sha384:" + created["workload"][:16],
        )
        + (
            _(", impact {impact}").format(impact=money(impact["amount"], impact["currency"]))
            if impact
            else ""
        ),
        flush=True,
    )


def run_budget(args: argparse.Namespace) -> int:
    from elsewhere.control.scheduling.assign import budget_text

    with client(args) as api:
        if args.budget:
            body = budget_text(args.budget, "risk budget").to_json()
            answer = api.json("PUT", "/v1/risk-budget", json=body)
        else:
            answer = api.json("GET", "/v1/risk-budget")
    if args.json:
        print_json(answer)
        return EXIT_OK
    b = answer["budget"]
    print(
        _("risk budget: {amount} per {per}").format(
            amount=money(b["amount"], b["currency"]), per=word(b["per"])
        )
        + (_(" (the control plane's default)") if answer.get("default") else "")
    )
    if "committed" in answer:
        c = answer["committed"]
        print(
            _("committed now (live placements): {amount} per {per}").format(
                amount=money(c["amount"], c["currency"]), per=word(c["per"])
            )
        )
    return EXIT_OK


def run_report(args: argparse.Namespace) -> int:
    with client(args) as api:
        answer = api.json(
            "POST", f"/v1/placements/{args.placement}/reports", json={"note": args.note}
        )
    if args.json:
        print_json(answer)
        return EXIT_OK
    print(
        _("reported the host of placement {placement}: it counts against its reputation").format(
            placement=args.placement
        )
    )
    return EXIT_OK
