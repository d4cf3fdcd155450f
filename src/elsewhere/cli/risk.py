"""`elsewhere risk`: explain a placement decision, replay a scenario against the guard."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from elsewhere.cli.exitcodes import EXIT_OK, EXIT_REFUSED
from elsewhere.cli.results import render_risk, word
from elsewhere.cli.serve import add_client_args, client
from elsewhere.cli.table import render_pairs, render_table
from elsewhere.errors import InputError
from elsewhere.i18n import _, localize
from elsewhere.risk.baserates import load_baserates
from elsewhere.risk.records import Decision


def register(commands: Any) -> None:
    group = commands.add_parser("risk", help="risk-aware placement: explain, simulate")
    sub = group.add_subparsers(title="risk commands", metavar="COMMAND")

    explain = sub.add_parser(
        "explain",
        help="likelihood, impact, risk, caps and the binding bound for a deployment",
        description="Explain placement of a deployment: a JSON file (schema "
        "elsewhere.risk.deployment/1, docs/risk.md), or a deployment id, fetched from the "
        "control plane (GET /v1/deployments/{id}/risk, tenant token).",
    )
    explain.add_argument("deployment", help="deployment JSON file, or deployment id")
    explain.add_argument("--json", action="store_true", help="print the explanation as JSON")
    explain.add_argument(
        "--top", type=int, default=10, help="least-risk hosts to list (default 10)"
    )
    explain.add_argument("--baserates", type=Path, help="TOML overriding the default base rates")
    add_client_args(explain)
    explain.set_defaults(handler=_explain)

    simulate = sub.add_parser(
        "simulate",
        help="replay a scripted sequence of jobs and outcomes against the model",
        description="Replay a scenario (TOML, schema elsewhere.risk.scenario/1) against "
        "count-based sizing and the guard; print exposure granted and loss.",
    )
    simulate.add_argument("scenario", type=Path, help="scenario TOML file")
    simulate.add_argument("--csv", type=Path, help="write the timeline as CSV ('-': stdout)")
    simulate.add_argument("--png", type=Path, help="write a chart of the timeline as PNG")
    simulate.add_argument("--json", action="store_true", help="print the summary as JSON")
    simulate.set_defaults(handler=_simulate)


def _money(x: float, currency: str) -> str:
    return f"{x:,.2f} {currency}" if math.isfinite(x) else "unbounded"


def _explain(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from elsewhere.risk.explain import explain, load_deployment, parse_deployment

    path = Path(args.deployment)
    stored: list[dict[str, Any]] = []
    if path.suffix == ".json" or path.is_file():
        at, request, hosts, config = load_deployment(path)
    else:  # a deployment id: the control plane's view of it, explained here
        with client(args) as api:
            doc = api.json("GET", f"/v1/deployments/{args.deployment}/risk")
        stored = [p for p in doc.get("placements", []) if p.get("decision")]
        at, request, hosts, config = parse_deployment(doc)
    if args.baserates is not None:
        config = replace(config, baserates=load_baserates(args.baserates))
    result = explain(at, request, hosts, config, top=args.top)
    placed_all = all(d.placed for d in result.decisions)
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
        return EXIT_OK if placed_all else EXIT_REFUSED
    cur = request.impact.currency
    budget = request.budget.annualised()
    print(
        render_pairs(
            [
                (
                    _("deployment"),
                    _("{id} (tenant {tenant})").format(
                        id=request.deployment_id, tenant=request.tenant
                    ),
                ),
                (_("impact"), str(request.impact)),
                (_("keeps"), str(request.keeps_per_year.annualised())),
                (_("budget"), str(budget)),
                (_("hosts offered"), len(hosts)),
            ]
        )
    )
    print()
    if stored:
        print(_("placements as decided by the control plane:"))
        for p in stored:
            print(
                "  "
                + _("replica {replica} ({state}): {decision}").format(
                    replica=p["replica"], state=word(p["state"]), decision=_stored(p["decision"])
                )
            )
            lines = render_risk(p["decision"], "    ")
            if lines:
                print("\n".join(lines))
        print()
        print(_("if placed now:"))
    for decision in result.decisions:
        print(
            _("replica {replica}: {summary}").format(
                replica=decision.replica, summary=localize(decision.summary)
            )
        )
        figures = _figures(decision, cur)
        if figures:
            print(render_pairs(figures))
    print()
    rows = []
    for view in result.hosts:
        exp = view.exposure
        rows.append(
            (
                view.host.host_id,
                f"{float(view.platform.rate.value):.4g}",
                f"{view.q:.4g}",
                f"{view.likelihood:.4g}",
                _money(view.risk, cur),
                _money(exp.growth_limit, cur),
                _money(exp.exit_limit, cur),
                _money(exp.allowed, cur),
                exp.binding.value,
            )
        )
    print(
        render_table(
            (
                _("host"),
                _("platform/yr"),
                "q",
                _("likelihood/yr"),
                _("risk/yr"),
                _("growth cap"),
                _("exit room"),
                _("max exposure"),
                _("binding bound"),
            ),
            rows,
        )
    )
    warnings = {v.platform.warning for v in result.hosts if v.platform.warning}
    for warning in sorted(warnings):
        print(_("warning: {warning}").format(warning=localize(warning)), file=sys.stderr)
    return EXIT_OK if placed_all else EXIT_REFUSED


def _stored(decision: dict[str, Any]) -> str:
    if decision["decision"] == "placed":
        return _("placed on {host}").format(host=decision.get("host") or decision["host_id"])
    return _("refused ({codes})").format(codes=", ".join(r["reason"] for r in decision["refusals"]))


def _figures(d: Decision, cur: str) -> list[tuple[str, object]]:
    """The figures behind one decision, as label/value lines (none for a bare refusal)."""
    if d.evidence is None or d.platform is None or d.likelihood is None:
        return []
    r, s, q = d.evidence
    record = d.record_likelihood.value if d.record_likelihood else 0
    return [
        ("  likelihood", f"{float(d.likelihood.value):.6g} per year"),
        ("    platform", "; ".join(d.platform.terms)),
        ("    record", f"{float(record):.6g} per year"),
        (
            "  bound used",
            f"q = {q:.6g}: upper {d.confidence or 0:.0%} credible bound of Beta(s+1, r+1),"
            f" r = {r:.4g}, s = {s:.4g}",
        ),
        ("  risk", f"{_money(float(d.risk.amount), cur)} per year" if d.risk else ""),
        ("  growth cap", _money(float(d.growth_limit.amount), cur) if d.growth_limit else ""),
        ("  exit room", _money(float(d.exit_room.amount), cur) if d.exit_room else ""),
        ("  closest bound", d.binding),
    ]


def _simulate(args: argparse.Namespace) -> int:
    from elsewhere.risk.simulate import Row, load_scenario, run, summarise

    scenario = load_scenario(args.scenario)
    if args.png is not None:  # the optional extra, checked before the simulation runs
        from elsewhere.risk.chart import require_matplotlib

        require_matplotlib()
    rows = run(scenario)
    summary = summarise(rows)
    if args.csv is not None:
        text = "\n".join([Row.HEADER, *(r.csv() for r in rows)]) + "\n"
        if str(args.csv) == "-":
            sys.stdout.write(text)
        else:
            _write(args.csv, text)
    if args.png is not None:
        from elsewhere.risk.chart import render_png

        render_png(rows, args.png, scenario.name, scenario.currency)
    if args.json:
        print(json.dumps({"scenario": scenario.name, "summary": [s.to_json() for s in summary]}))
        return EXIT_OK
    if args.csv is not None and str(args.csv) == "-":
        return EXIT_OK
    cur = scenario.currency
    print(_("{name}: {count} jobs").format(name=scenario.name, count=len(scenario.jobs)))
    print(
        render_table(
            (
                _("strategy"),
                _("jobs run"),
                _("granted"),
                _("loss"),
                _("largest grant"),
                _("CUSUM alarm"),
            ),
            [
                (
                    s.strategy,
                    s.jobs_run,
                    _money(s.granted, cur),
                    _money(s.loss, cur),
                    _money(s.largest_grant, cur),
                    _("job {step}").format(step=s.alarm_step) if s.alarm_step else _("none"),
                )
                for s in summary
            ],
        )
    )
    notable = [r for r in rows if r.outcome in ("defect", "lost") or r.alarm]
    if notable:
        print()
        print(_("over time (defections, losses, alarms):"))
        per_strategy: dict[str, int] = {}
        shown = []
        for r in notable:  # the first few of each strategy: the trend, not every line
            per_strategy[r.strategy] = per_strategy.get(r.strategy, 0) + 1
            if per_strategy[r.strategy] <= 8:
                shown.append(r)
        print(
            render_table(
                (
                    _("job"),
                    _("strategy"),
                    _("request"),
                    _("granted"),
                    _("outcome"),
                    _("cumulative loss"),
                    _("bound"),
                ),
                [
                    (
                        r.step,
                        r.strategy,
                        _money(r.request, cur),
                        _money(r.granted, cur),
                        r.outcome + (" ALARM" if r.alarm else ""),
                        _money(r.cumulative_loss, cur),
                        r.binding,
                    )
                    for r in shown
                ],
            )
        )
        if len(notable) > len(shown):
            more = _("... {count} more (--csv for the full timeline)")
            print(more.format(count=len(notable) - len(shown)))
    return EXIT_OK


def _write(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as error:
        raise InputError("output", str(path), error.strerror or str(error)) from None
