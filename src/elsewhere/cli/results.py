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

BOUNDARIES = ("workload_from_workload", "host_from_workload", "workload_from_host")


def register(commands: Any) -> None:
    results = commands.add_parser("results", help="show a deployment's results and decisions")
    results.add_argument("deployment")
    results.add_argument(
        "--key", type=Path, default=None, help="your HPKE private key file, to open sealed results"
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
    from elsewhere.wire import RESULT_INFO, result_aad

    data = base64.b64decode(result[stream])
    if result["sealed"]:
        if key is None:
            return f"(sealed to your key, {len(data)} bytes; give --key to open)"
        data = key.open(data, info=RESULT_INFO, aad=result_aad(placement, stream))
    return data.decode("utf-8", errors="replace").rstrip("\n")


def render_isolation(
    report: dict[str, Any], indent: str = "    ", only: tuple[str, ...] = BOUNDARIES
) -> list[str]:
    lines = []
    for name in only:
        boundary = report.get(name) or {}
        lines.append(f"{indent}{name.replace('_', ' ')}: {boundary.get('summary', '?')}")
        lines.extend(f"{indent}  - {detail}" for detail in boundary.get("details", []))
    return lines


def host_report_lines(result: dict[str, Any], indent: str) -> list[str]:
    """The host's own isolation report, only where it differs from the control plane's (the
    same report twice per replica says nothing; a difference is worth a look)."""
    claimed = result.get("host_reported_isolation")
    if not claimed:
        return []
    if "error" in claimed:
        return [f"{indent}host-reported isolation: {claimed['error']}"]
    ours = result["isolation"]
    differ = tuple(b for b in BOUNDARIES if (claimed.get(b) or {}) != (ours.get(b) or {}))
    if not differ:
        return [f"{indent}host-reported isolation: the same as the control plane's"]
    return [
        f"{indent}host-reported isolation differs (what the host says; not trusted):",
        *render_isolation(claimed, indent + "  ", differ),
    ]


def exit_line(result: dict[str, Any]) -> str:
    """How the keep ended: its exit code, or why it has none (a trap, a limit, a refusal)."""
    if result["exit_code"] is None:
        return "no exit code: " + (result["error"] or "the keep ended without one")
    return f"exit code {result['exit_code']}" + (
        f", error: {result['error']}" if result["error"] else ""
    )


def _money(doc: dict[str, Any]) -> str:
    text = f"{float(doc['amount']):,.2f} {doc['currency']}"
    return text + (f" per {doc['per']}" if "per" in doc else "")


def risk_line(decision: dict[str, Any]) -> str:
    """likelihood × impact = risk vs budget, for a placed (or budget-refused) decision."""
    likelihood = float(decision["likelihood"]["total"]["value"])
    return (
        f"likelihood {likelihood:.4g}/year × impact {_money(decision['impact'])} = risk "
        f"{_money(decision['risk'])} (budget {_money(decision['budget'])}, "
        f"committed before {_money(decision['committed_before'])})"
    )


def render_risk(decision: dict[str, Any] | None, indent: str) -> list[str]:
    if not decision:
        return []
    lines = []
    if "risk" in decision:
        lines.append(f"{indent}risk: {risk_line(decision)}")
        lines.append(f"{indent}  closest bound: {decision['caps']['binding']}")
    if decision["decision"] == "refused":
        why = "; ".join(r["text"] for r in decision["refusals"]) or "no reason recorded"
        codes = ", ".join(r["reason"] for r in decision["refusals"])
        lines.append(f"{indent}placement refused ({codes}) because {why}")
    return lines


def render(view: dict[str, Any], key: TenantKey | None) -> str:
    lines = [f"deployment {view['id']} ({view['state']}): workload sha384:{view['workload'][:16]}…"]
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
            lines.append("    isolation report (computed by the control plane):")
            lines.extend(render_isolation(result["isolation"], "      "))
            lines.extend(host_report_lines(result, "    "))
    lines.append("  decisions:")
    for d in view["decisions"]:
        why = "; ".join(d["reasons"]) if d["reasons"] else "every rule satisfied"
        lines.append(
            f"    {d['at']} {d['host']}: {d['verdict']} ({d['action']}) — {why}"
            + (f" [ledger #{d['ledger_index']}]" if d["ledger_index"] is not None else "")
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
