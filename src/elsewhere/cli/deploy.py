"""Tenant commands over the API: `workload upload|list`, `secret put|list`, `set-policy`,
`deploy`, `set-risk-budget`, `report-host`. They read the control-plane URL and the tenant
token from --control / --token or ELSEWHERE_CONTROL / ELSEWHERE_TOKEN."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from elsewhere.cli.exitcodes import EXIT_OK
from elsewhere.cli.inputs import MAX_UPLOAD_BYTES, read_input
from elsewhere.cli.results import word
from elsewhere.cli.serve import add_client_args, client
from elsewhere.cli.table import render_table
from elsewhere.control.scheduling.assign import budget_text, money_text
from elsewhere.crypto.keyfile import load_public_key
from elsewhere.errors import InputError
from elsewhere.host.client import b64
from elsewhere.i18n import N_, _, localize, money


def register(commands: Any) -> None:
    workload = commands.add_parser("workload", help="upload and list WebAssembly workloads")
    wsub = workload.add_subparsers(title="workload commands", metavar="COMMAND")
    upload = wsub.add_parser("upload", help="upload a .wasm module (validated; named by SHA-384)")
    upload.add_argument("file", type=Path)
    upload.add_argument("--name", default=None)
    add_client_args(upload)
    upload.set_defaults(handler=run_upload)
    wlist = wsub.add_parser("list", help="list your workloads")
    add_client_args(wlist)
    wlist.set_defaults(handler=run_workloads)

    secret = commands.add_parser("secret", help="store secrets (released only to attested keeps)")
    ssub = secret.add_subparsers(title="secret commands", metavar="COMMAND")
    put = ssub.add_parser("put", help="store a secret from --file, or from standard input")
    put.add_argument("name")
    put.add_argument("--file", type=Path, default=None)
    add_client_args(put)
    put.set_defaults(handler=run_secret_put)
    slist = ssub.add_parser("list", help="list secret names (values are never shown)")
    add_client_args(slist)
    slist.set_defaults(handler=run_secret_list)

    policy = commands.add_parser("set-policy", help="set your trust policy (TOML file)")
    policy.add_argument("file", type=Path)
    add_client_args(policy)
    policy.set_defaults(handler=run_set_policy)

    deploy = commands.add_parser("deploy", help="deploy N replicas of a workload")
    deploy.add_argument("workload", help="SHA-384 digest (or 12+ digit prefix)")
    deploy.add_argument("--replicas", type=int, default=1)
    deploy.add_argument("--secret", action="append", default=[], help="secret name (repeat)")
    deploy.add_argument("--arg", action="append", default=[], help="argument (repeat)")
    deploy.add_argument("--env", action="append", default=[], metavar="NAME=VALUE")
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
    add_client_args(deploy)
    deploy.set_defaults(handler=run_deploy)

    budget = commands.add_parser(
        "set-risk-budget", help="set the annual risk you accept, e.g. 5000USD/yr"
    )
    budget.add_argument("budget", nargs="?", help="AMOUNT+CURRENCY[/PERIOD]; omit to show it")
    add_client_args(budget)
    budget.set_defaults(handler=run_set_budget)

    report = commands.add_parser(
        "report-host", help="report misbehaviour of the host that ran one of your placements"
    )
    report.add_argument("placement", help="placement id (from `elsewhere results`)")
    report.add_argument("--note", default="", help="what happened (one line)")
    add_client_args(report)
    report.set_defaults(handler=run_report)


def run_upload(args: argparse.Namespace) -> int:
    with client(args) as api:
        stored = api.upload_workload(
            read_input(args.file, "workload", limit=MAX_UPLOAD_BYTES), args.name or args.file.name
        )
    print(
        _("workload {name}: {digest} ({size} bytes)").format(
            name=stored["name"], digest="sha384:" + stored["digest"], size=stored["size"]
        )
    )
    return EXIT_OK


def run_workloads(args: argparse.Namespace) -> int:
    with client(args) as api:
        rows = api.json("GET", "/v1/workloads")
    print(
        render_table(
            (_("digest"), _("name"), _("size")),
            [(r["digest"][:24], r["name"], r["size"]) for r in rows],
        )
    )
    return EXIT_OK


def run_secret_put(args: argparse.Namespace) -> int:
    value = read_input(args.file or "-", "secret", limit=MAX_UPLOAD_BYTES)
    with client(args) as api:
        stored = api.put_secret(args.name, value)
    print(
        _("secret {name} stored (encrypted at rest; released only to attested keeps)").format(
            name=stored["name"]
        )
    )
    return EXIT_OK


def run_secret_list(args: argparse.Namespace) -> int:
    with client(args) as api:
        rows = api.json("GET", "/v1/secrets")
    print(render_table((_("name"), _("created")), [(r["name"], r["created_at"]) for r in rows]))
    return EXIT_OK


def run_set_policy(args: argparse.Namespace) -> int:
    document = read_input(args.file, "policy", limit=MAX_UPLOAD_BYTES).decode(
        "utf-8", errors="replace"
    )
    with client(args) as api:
        answer = api.set_policy(document)
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
        )
    )
    print(_("follow it with: {command}").format(command=f"elsewhere results {created['id']}"))
    return EXIT_OK


def run_set_budget(args: argparse.Namespace) -> int:
    with client(args) as api:
        if args.budget:
            body = budget_text(args.budget, "risk budget").to_json()
            answer = api.json("PUT", "/v1/risk-budget", json=body)
        else:
            answer = api.json("GET", "/v1/risk-budget")
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
        api.json("POST", f"/v1/placements/{args.placement}/reports", json={"note": args.note})
    print(
        _("reported the host of placement {placement}: it counts against its reputation").format(
            placement=args.placement
        )
    )
    return EXIT_OK
