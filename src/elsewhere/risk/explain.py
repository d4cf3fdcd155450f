"""`risk explain`: a deployment and its candidate hosts in, every figure of the decision out.

Input is one JSON document (schema elsewhere.risk.deployment/1, docs/risk.md): the deployment
(impact, replicas, keeps per year, the tenant's budget), optional model settings, and the hosts
policy accepted, each with its claims, collateral, outstanding exposure and reputation: its events,
or (from the control plane, which never shows one tenant another's events) the aggregate
evidence at this deployment's value.
The decisions come from the same engine placement uses; for each host the explanation adds the
largest value it could hold for this workload now and the bound that stops it there.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from elsewhere.errors import InputError
from elsewhere.risk.baserates import PlatformLikelihood, PlatformSummary, load_baserates
from elsewhere.risk.guard import Exposure, GuardConfig, annual_basis, max_exposure
from elsewhere.risk.inputs import HostCandidate, PlacementRequest
from elsewhere.risk.placement import PlacementConfig, place
from elsewhere.risk.quantities import (
    YEAR,
    MoneyRate,
    parse_money,
    parse_money_rate,
    parse_rate,
)
from elsewhere.risk.records import Decision
from elsewhere.risk.reputation import Event, ReputationConfig, ReputationSnapshot, snapshot_of
from elsewhere.timeutil import iso, parse_time

SCHEMA = "elsewhere.risk.deployment/1"
MAX_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class HostView:
    host: HostCandidate
    platform: PlatformLikelihood
    q: float  # upper credible bound for this workload's value
    likelihood: float  # per year
    risk: float  # per year, for this workload
    exposure: Exposure  # largest value it may hold now for this workload

    def to_json(self) -> dict[str, Any]:
        rep = self.host.reputation
        return {
            "host_id": self.host.host_id,
            "reputation_key": rep.key,
            "platform": self.platform.to_json(),
            "q": self.q,
            "likelihood_per_year": self.likelihood,
            "risk_per_year": self.risk,
            "mean_success": rep.mean_success(),
            "quarantined": rep.quarantined,
            "max_exposure": self.exposure.to_json(),
        }


@dataclass(frozen=True)
class Explanation:
    at: dt.datetime
    request: PlacementRequest
    decisions: tuple[Decision, ...]
    hosts: tuple[HostView, ...]  # the least-risk hosts, least first
    hosts_total: int

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": "elsewhere.risk.explanation/1",
            "at": iso(self.at),
            "decisions": [d.to_json() for d in self.decisions],
            "hosts_total": self.hosts_total,
            "hosts": [h.to_json() for h in self.hosts],
        }


def _obj(doc: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(doc, dict):
        raise InputError("deployment file", where, "expected an object")
    return doc


def _num(doc: Mapping[str, Any], name: str, default: float, where: str) -> float:
    value = doc.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError("deployment file", f"{where}.{name}", "expected a number")
    return float(value)


def parse_deployment(
    doc: Any,
) -> tuple[dt.datetime, PlacementRequest, list[HostCandidate], PlacementConfig]:
    top = _obj(doc, "top level")
    if top.get("schema") != SCHEMA:
        raise InputError("deployment file", "schema", f"expected {SCHEMA!r}")
    at_text = top.get("at")
    if not isinstance(at_text, str):
        raise InputError("deployment file", "at", "expected an ISO 8601 time")
    at = parse_time(at_text, where="at")
    dep = _obj(top.get("deployment"), "deployment")
    for name in ("id", "tenant"):
        if not isinstance(dep.get(name), str):
            raise InputError("deployment file", f"deployment.{name}", "expected a string")
    impact = parse_money(dep.get("impact"), "deployment.impact")
    replicas = dep.get("replicas", 1)
    if isinstance(replicas, bool) or not isinstance(replicas, int) or not 1 <= replicas <= 1000:
        raise InputError("deployment file", "deployment.replicas", "expected 1..1000")
    committed = dep.get("committed")
    request = PlacementRequest(
        deployment_id=dep["id"],
        tenant=dep["tenant"],
        impact=impact,
        replicas=replicas,
        budget=parse_money_rate(dep.get("budget"), "deployment.budget", impact.currency),
        committed=None
        if committed is None
        else parse_money_rate(committed, "deployment.committed", impact.currency),
        keeps_per_year=parse_rate(dep.get("keeps_per_year", 1), "deployment.keeps_per_year"),
    )
    cfg = _obj(top.get("config", {}), "config")
    rep_config = ReputationConfig(
        tau_good_days=_num(cfg, "tau_good_days", 180.0, "config"),
        tau_bad_days=_num(cfg, "tau_bad_days", 720.0, "config"),
        penalty=_num(cfg, "penalty", 2.0, "config"),
        confidence=_num(cfg, "confidence", 0.95, "config"),
    )
    config = PlacementConfig(
        guard=GuardConfig(
            gamma=_num(cfg, "gamma", 2.0, "config"),
            kappa=_num(cfg, "kappa", 0.5, "config"),
            trial_allowance=_num(cfg, "trial_allowance", 0.0, "config"),
        ),
        baserates=load_baserates(_obj(cfg.get("baserates", {}), "config.baserates")),
        confidence=rep_config.confidence,
    )
    hosts_doc = top.get("hosts")
    if not isinstance(hosts_doc, list):
        raise InputError("deployment file", "hosts", "expected a list")
    hosts = [_host(h, f"hosts[{i}]", at, rep_config) for i, h in enumerate(hosts_doc)]
    return at, request, hosts, config


def _host(doc: Any, where: str, at: dt.datetime, config: ReputationConfig) -> HostCandidate:
    host = _obj(doc, where)
    host_id = host.get("host_id")
    if not isinstance(host_id, str) or not host_id:
        raise InputError("deployment file", f"{where}.host_id", "expected a string")
    claims = host.get("claims", host.get("platform"))
    platform = PlatformSummary.from_json(claims, f"{where}.claims")
    events_doc = host.get("events", [])
    if not isinstance(events_doc, list):
        raise InputError("deployment file", f"{where}.events", "expected a list")
    events = [Event.from_json(e, f"{where}.events[{i}]") for i, e in enumerate(events_doc)]
    quarantined = host.get("quarantined")
    if quarantined is not None and not isinstance(quarantined, str):
        raise InputError("deployment file", f"{where}.quarantined", "expected a reason or null")
    key = f"chip:{platform.chip_id.lower()}" if platform.chip_id else f"host:{host_id}"
    if "reputation" in host:  # the control plane's aggregate: other tenants' events stay out
        snapshot = ReputationSnapshot.from_json(
            host["reputation"], f"{where}.reputation", key, at, config.confidence, quarantined
        )
    else:
        snapshot = snapshot_of(key, events, at, config, quarantined)
    money = {
        name: parse_money(host[name], f"{where}.{name}") if host.get(name) is not None else None
        for name in ("collateral", "outstanding")
    }
    return HostCandidate(host_id, platform, snapshot, money["collateral"], money["outstanding"])


def load_deployment(
    path: Path,
) -> tuple[dt.datetime, PlacementRequest, list[HostCandidate], PlacementConfig]:
    try:
        if path.stat().st_size > MAX_BYTES:
            raise InputError("deployment file", str(path), f"larger than {MAX_BYTES} bytes")
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise InputError("deployment file", str(path), error.strerror or str(error)) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InputError("deployment file", str(path), f"not valid JSON: {error}") from None
    return parse_deployment(doc)


def explain(
    at: dt.datetime,
    request: PlacementRequest,
    hosts: list[HostCandidate],
    config: PlacementConfig,
    top: int = 10,
) -> Explanation:
    """The decisions, and the `top` least-risk hosts with the largest value each could hold."""
    decisions = place(hosts, [request], config)
    budget = request.budget.annualised()
    committed = (request.committed or MoneyRate.of(0, budget.currency, YEAR)).annualised()
    remaining = budget - committed
    value = float(request.impact.amount)
    scored = []
    for host in hosts:
        platform = config.baserates.likelihood(host.platform)
        basis = annual_basis(platform.rate, request.keeps_per_year, remaining)
        p_year, keeps, _ = basis.floats
        q = host.reputation.upper_bound(value)
        scored.append(((p_year + keeps * q) * value, host.host_id, host, platform, basis, q))
    scored.sort(key=lambda row: (row[0], row[1]))
    views: list[HostView] = []
    for risk, _, host, platform, basis, q in scored[: max(top, 0)]:
        exposure = max_exposure(  # bisection: only for the hosts shown
            host.reputation,
            basis,
            config.guard,
            collateral=float(host.collateral.amount) if host.collateral else 0.0,
            outstanding=float(host.outstanding.amount) if host.outstanding else 0.0,
        )
        views.append(HostView(host, platform, q, risk / value, risk, exposure))
    return Explanation(at, request, decisions, tuple(views), len(hosts))
