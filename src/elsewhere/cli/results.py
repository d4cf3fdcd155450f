"""`elsewhere results DEPLOYMENT`: each keep's state, output and isolation report, and every
attestation and re-check decision with its reasons and ledger index."""

from __future__ import annotations

import argparse
import base64
from pathlib import Path
from typing import TYPE_CHECKING, Any

from elsewhere.cli.deployment import exit_status, follow, placement_line, progress_printer
from elsewhere.cli.serve import add_client_args, client
from elsewhere.cli.table import print_json

if TYPE_CHECKING:
    from elsewhere.crypto.keyfile import TenantKey
from elsewhere.i18n import N_, _, localize, money, timestamp
from elsewhere.wire import RESULT_INFO, result_aad

BOUNDARIES = {
    "workload_from_workload": N_("workload from workload"),
    "host_from_workload": N_("host from workload"),
    "workload_from_host": N_("workload from host"),
}
# The words the API answers with (placement states, verdicts, periods), for people to read.
WORDS = frozenset(
    (
        N_("completed"),
        N_("failed"),
        N_("assigned"),
        N_("released"),
        N_("pending"),
        N_("running"),
        N_("affirming"),
        N_("accepted"),
        N_("refused"),
        N_("contraindicated"),
        N_("release"),
        N_("refuse"),
        N_("evict"),
        N_("drain"),
        N_("warn"),
        N_("active"),
        N_("lost"),
        N_("draining"),
        N_("year"),
        N_("month"),
        N_("day"),
    )
)


def word(value: str) -> str:
    """One of the API's WORDS in the reader's language; anything else (a name) as it is."""
    return localize(value) if value in WORDS else value


def register(commands: Any) -> None:
    results = commands.add_parser("results", help=_("show a deployment's results and decisions"))
    results.add_argument("deployment")
    results.add_argument(
        "--key",
        type=Path,
        default=None,
        help=_("your HPKE private key file, to open sealed results"),
    )
    results.add_argument(
        "--json", action="store_true", help="print the deployment's JSON (docs/cli.md)"
    )
    results.add_argument(
        "--follow",
        action="store_true",
        help="print each replica's progress as it changes, until the deployment ends",
    )
    add_client_args(results)
    results.set_defaults(handler=run_results)


def output(result: dict[str, Any], placement: str, stream: str, key: TenantKey | None) -> str:

    data = base64.b64decode(result[stream])
    if result["sealed"]:
        if key is None:
            return _("(sealed to your key, {size} bytes; give --key to open)").format(
                size=len(data)
            )
        data = key.open(data, info=RESULT_INFO, aad=result_aad(placement, stream))
    return data.decode("utf-8", errors="replace").rstrip("\n")


def render_isolation(
    report: dict[str, Any], indent: str = "    ", only: tuple[str, ...] = tuple(BOUNDARIES)
) -> list[str]:
    lines = []
    for name in only:
        label = BOUNDARIES[name]
        boundary = report.get(name) or {}
        summary = localize(str(boundary.get("summary", "?")))
        lines.append(f"{indent}{localize(label)}: {summary}")
        lines.extend(f"{indent}  - {localize(detail)}" for detail in boundary.get("details", []))
    return lines


def host_report_lines(result: dict[str, Any], indent: str) -> list[str]:
    """The host's own isolation report, only where it differs from the control plane's (the
    same report twice per replica says nothing; a difference is worth a look)."""
    claimed = result.get("host_reported_isolation")
    if not claimed:
        return []
    if "error" in claimed:
        return [indent + _("host-reported isolation: {error}").format(error=claimed["error"])]
    ours = result["isolation"]
    differ = tuple(b for b in BOUNDARIES if (claimed.get(b) or {}) != (ours.get(b) or {}))
    if not differ:
        return [indent + _("host-reported isolation: the same as the control plane's")]
    return [
        indent + _("host-reported isolation differs (what the host says; not trusted):"),
        *render_isolation(claimed, indent + "  ", differ),
    ]


def exit_line(result: dict[str, Any]) -> str:
    """How the keep ended: its exit code, or why it has none (a trap, a limit, a refusal)."""
    if result["exit_code"] is None:
        why = localize(result["error"]) if result["error"] else _("the keep ended without one")
        return _("no exit code: {why}").format(why=why)
    return _("exit code {code}").format(code=result["exit_code"]) + (
        ", " + _("error: {error}").format(error=localize(result["error"]))
        if result["error"]
        else ""
    )


def _money(doc: dict[str, Any]) -> str:
    text = money(doc["amount"], doc["currency"])
    return (
        _("{amount} per {per}").format(amount=text, per=word(doc["per"])) if "per" in doc else text
    )


def risk_line(decision: dict[str, Any]) -> str:
    """likelihood × impact = risk vs budget, for a placed (or budget-refused) decision."""
    likelihood = float(decision["likelihood"]["total"]["value"])
    return _(
        "likelihood {likelihood}/year × impact {impact} = risk {risk} "
        "(budget {budget}, committed before {committed})"
    ).format(
        likelihood=f"{likelihood:.4g}",
        impact=_money(decision["impact"]),
        risk=_money(decision["risk"]),
        budget=_money(decision["budget"]),
        committed=_money(decision["committed_before"]),
    )


def render_risk(decision: dict[str, Any] | None, indent: str) -> list[str]:
    if not decision:
        return []
    lines = []
    if "risk" in decision:
        lines.append(indent + _("risk: {line}").format(line=risk_line(decision)))
        lines.append(
            indent + "  " + _("closest bound: {bound}").format(bound=decision["caps"]["binding"])
        )
    if decision["decision"] == "refused":
        why = "; ".join(localize(r["text"]) for r in decision["refusals"]) or _(
            "no reason recorded"
        )
        codes = ", ".join(r["reason"] for r in decision["refusals"])
        lines.append(
            indent + _("placement refused ({codes}) because {why}").format(codes=codes, why=why)
        )
    return lines


def render(view: dict[str, Any], key: TenantKey | None) -> str:
    lines = [
        _("deployment {id} ({state}): workload {digest}…").format(
            id=view["id"], state=word(view["state"]), digest="sha384:" + view["workload"][:16]
        )
    ]
    for p in view["placements"]:
        lines.append("  " + placement_line(p))
        lines.extend(render_risk(p.get("risk"), "    "))
        result = p["result"]
        if result:
            lines.append(f"    {exit_line(result)}")
            lines.append(f"    stdout: {output(result, p['id'], 'stdout', key)}")
            stderr = output(result, p["id"], "stderr", key)
            if stderr:
                lines.append(f"    stderr: {stderr}")
            lines.append("    " + _("isolation report (computed by the control plane):"))
            lines.extend(render_isolation(result["isolation"], "      "))
            lines.extend(host_report_lines(result, "    "))
    lines.append("  " + _("decisions:"))
    for d in view["decisions"]:
        why = (
            "; ".join(localize(r) for r in d["reasons"])
            if d["reasons"]
            else _("every rule satisfied")
        )
        verdict = f"{word(d['verdict'])} ({word(d['action'])})"
        lines.append(
            f"    {timestamp(d['at'])} {d['host']}: {verdict} — {why}"
            + (
                " " + _("[ledger #{index}]").format(index=d["ledger_index"])
                if d["ledger_index"] is not None
                else ""
            )
        )
    return "\n".join(lines)


def run_results(args: argparse.Namespace) -> int:
    from elsewhere.crypto.keyfile import TenantKey

    key = TenantKey.load(args.key) if args.key else None
    with client(args) as api:
        if args.follow:
            view = follow(
                api, args.deployment, (lambda _: None) if args.json else progress_printer()
            )
        else:
            view = api.deployment(args.deployment)
    if args.json:
        print_json(view)
    else:
        print(render(view, key))
    return exit_status(view)
