"""Risk-aware placement in the control plane: the scheduler's `assign` hook and the impact and
budget inputs (the risk document a tenant reads is control/scheduling/riskdoc.py).

Each round, the pending replicas of a deployment go through `elsewhere.risk.place` over the
hosts policy accepted (each weighed by its last verified claims and its reputation): least
risk, refused when the risk exceeds the tenant's remaining budget or a cap binds. The decision
is stored on the placement (status) and, for a placement, logged in the ledger in the same
transaction. One replica per chip in a round; more replicas than chips stack on the next
round, each still within the caps (outstanding exposure counts every live replica).
Rounds never overlap (`scheduler.serialise`), so the committed risk a round checks against the
budget is the committed risk when its placements commit: concurrent deployments of a tenant
cannot together exceed its budget.
"""

from __future__ import annotations

import functools
import json
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from elsewhere.control.config import ControlConfig, ControlPlane
from elsewhere.control.scheduling.scheduler import (
    LIVE_STATES,
    HostView,
    take,
    waiting_note,
)
from elsewhere.control.store.tables import deployments, placements, tenants
from elsewhere.control.trust import audit, reputation
from elsewhere.errors import ElsewhereError, InputError
from elsewhere.ledger.entries import Candidate, Placement
from elsewhere.risk.baserates import PlatformSummary
from elsewhere.risk.guard import GuardConfig
from elsewhere.risk.inputs import HostCandidate, PlacementRequest
from elsewhere.risk.placement import PlacementConfig, place
from elsewhere.risk.quantities import YEAR, Money, MoneyRate, parse_money, parse_period
from elsewhere.risk.records import Decision, Reason
from elsewhere.risk.reputation import ReputationBook
from elsewhere.timeutil import utcnow

_MONEY = re.compile(r"^\s*([0-9][0-9_,]*(?:\.[0-9]+)?)\s*([A-Za-z]{3})\s*$")
_PERIOD_ALIASES = {"yr": "year", "y": "year", "mo": "month", "wk": "week", "d": "day"}


@dataclass(frozen=True)
class RiskSettings:
    currency: str
    default_impact: Money
    default_budget: MoneyRate
    config: PlacementConfig


@functools.cache
def settings(config: ControlConfig) -> RiskSettings:
    currency = config.risk_currency.upper()
    return RiskSettings(
        currency=currency,
        default_impact=Money(Decimal(config.default_impact), currency),
        default_budget=MoneyRate.of(Decimal(config.default_risk_budget), currency, YEAR),
        config=PlacementConfig(guard=GuardConfig(trial_allowance=config.trial_allowance)),
    )


def money_text(text: str, where: str) -> Money:
    """ "10000USD", "10,000 USD", "2500.50 gbp" → Money."""
    match = _MONEY.match(text)
    if not match:
        raise InputError(where, text, "expected an amount and a currency, e.g. 10000USD")
    try:
        amount = Decimal(match.group(1).replace(",", "").replace("_", ""))
    except InvalidOperation:
        raise InputError(where, text, "not a number") from None
    return parse_money({"amount": str(amount), "currency": match.group(2).upper()}, where)


def budget_text(text: str, where: str) -> MoneyRate:
    """ "5000USD/yr", "400 EUR/month" (no period: per year) → MoneyRate."""
    amount, _, per = text.partition("/")
    name = per.strip().lower() or "year"
    return MoneyRate(money_text(amount, where), parse_period(_PERIOD_ALIASES.get(name, name)))


def checked_impact(cp_config: ControlConfig, doc: Any) -> Money:
    risk = settings(cp_config)
    if doc is None:
        return risk.default_impact
    impact = parse_money(doc, "impact")
    if impact.currency.upper() != risk.currency:
        raise InputError("impact", impact.currency, f"risk is valued in {risk.currency} here")
    if not Decimal("0.01") <= impact.amount <= Decimal("1e15"):
        raise InputError("impact", str(impact.amount), "must be between 0.01 and 1e15")
    return Money(impact.amount, risk.currency)


def checked_budget(cp_config: ControlConfig, doc: Any) -> MoneyRate:
    risk = settings(cp_config)
    if not isinstance(doc, dict) or "per" not in doc:
        raise InputError("risk budget", "body", "expected {amount, currency, per}")
    budget = MoneyRate(parse_money(doc, "risk budget"), parse_period(str(doc["per"]), "per"))
    if budget.currency.upper() != risk.currency:
        raise InputError("risk budget", budget.currency, f"risk is valued in {risk.currency} here")
    if not budget.period.is_time or budget.amount <= 0:
        raise InputError("risk budget", str(budget), "must be a positive amount per time period")
    return budget


def _money_rate(doc: str | None, default: MoneyRate) -> MoneyRate:
    if doc is None:
        return default
    data = json.loads(doc)
    return MoneyRate.of(Decimal(data["amount"]), data["currency"], parse_period(data["per"]))


def tenant_budget(
    conn: Connection, config: ControlConfig, tenant_id: str
) -> tuple[MoneyRate, bool]:
    """(budget, whether it is the default)."""
    doc = conn.execute(select(tenants.c.risk_budget).where(tenants.c.id == tenant_id)).scalar()
    return _money_rate(doc, settings(config).default_budget), doc is None


def impact_of(config: ControlConfig, doc: str | None) -> Money:
    if doc is None:
        return settings(config).default_impact
    data = json.loads(doc)
    return Money(Decimal(data["amount"]), data["currency"])


def committed_risk(
    conn: Connection, tenant_id: str, currency: str, *, excluding: str | None = None
) -> MoneyRate:
    """Risk the tenant carries now: the sum over its live placements (per year)."""
    total = MoneyRate.of(0, currency, YEAR)
    rows = conn.execute(
        select(placements.c.risk, placements.c.deployment_id)
        .join(deployments, deployments.c.id == placements.c.deployment_id)
        .where(
            deployments.c.tenant_id == tenant_id,
            placements.c.state.in_(LIVE_STATES),
            placements.c.risk.is_not(None),
        )
    ).all()
    for row in rows:
        risk = json.loads(row.risk).get("risk")
        if risk and row.deployment_id != excluding:
            total = total + MoneyRate.of(Decimal(risk["amount"]), currency, YEAR)
    return total


def outstanding_by_host(conn: Connection, config: ControlConfig) -> defaultdict[str, float]:
    """Value already placed on each host: the impact of every live placement."""
    out: defaultdict[str, float] = defaultdict(float)
    rows = conn.execute(
        select(placements.c.host_id, deployments.c.impact)
        .join(deployments, deployments.c.id == placements.c.deployment_id)
        .where(placements.c.state.in_(LIVE_STATES))
    ).all()
    for row in rows:
        out[row.host_id] += float(impact_of(config, row.impact).amount)
    return out


def platform_of(host: HostView) -> tuple[PlatformSummary, dict[str, Any]]:
    """A host's last verified platform; one that never attested counts as unprotected."""
    doc: dict[str, Any] = json.loads(host.last_claims) if host.last_claims else {"tee": "unknown"}
    return PlatformSummary.from_json(doc, host.name), doc


def candidates(
    book: ReputationBook,
    hosts: Sequence[HostView],
    outstanding: defaultdict[str, float],
    currency: str,
) -> list[HostCandidate]:
    at = utcnow()
    out = []
    for host in hosts:
        platform, _ = platform_of(host)
        snapshot = book.snapshot(book.key_for(host.id, platform.chip_id), at)
        held = Money(Decimal(repr(round(outstanding[host.id], 6))), currency)
        out.append(HostCandidate(host.id, platform, snapshot, None, held))
    return out


def _decision_json(decision: Decision, names: dict[str, str]) -> str:
    doc = decision.to_json()
    if decision.host_id is not None:
        doc["host"] = names.get(decision.host_id, decision.host_id)
    return json.dumps(doc, sort_keys=True)


def _retry(decision: Decision) -> bool:
    """Refused only because every other chip already holds a replica from this round."""
    return any(r.reason is Reason.SAME_DEPLOYMENT for r in decision.refusals) and not any(
        r.reason is Reason.RISK_BUDGET for r in decision.refusals
    )


def assigner(cp: ControlPlane) -> Any:
    """The scheduler's `assign` hook for this control plane."""
    risk = settings(cp.config)
    book: ReputationBook | None = None  # read only in a round with something to place
    outstanding: defaultdict[str, float] | None = None

    def assign(
        conn: Connection, deployment_id: str, rows: Sequence[Any], hosts: Sequence[HostView]
    ) -> list[tuple[str, str]]:
        nonlocal book, outstanding
        if book is None or outstanding is None:
            book = reputation.current_book(cp.engine, cp.reputation_cache)
            outstanding = outstanding_by_host(conn, cp.config)
        dep = conn.execute(
            select(deployments.c.tenant_id, deployments.c.impact).where(
                deployments.c.id == deployment_id
            )
        ).one()
        impact = impact_of(cp.config, dep.impact)
        budget, _ = tenant_budget(conn, cp.config, dep.tenant_id)
        committed = committed_risk(conn, dep.tenant_id, risk.currency)
        names = {h.id: h.name for h in hosts}
        now = utcnow()
        assigned: list[tuple[str, str]] = []
        remaining = list(rows)
        try:
            while remaining:
                request = PlacementRequest(
                    deployment_id, dep.tenant_id, impact, len(remaining), budget, committed
                )
                hosts_now = candidates(book, hosts, outstanding, risk.currency)
                decisions = place(hosts_now, [request], risk.config)
                retry, placed_any = [], False
                for row, decision in zip(remaining, decisions, strict=True):
                    values: dict[str, Any] = {"risk": _decision_json(decision, names)}
                    if decision.placed and decision.host_id is not None and decision.risk:
                        values |= {"host_id": decision.host_id, "note": None, "updated_at": now}
                        # Logged and counted only if the row was still pending (the pass is
                        # serialised, but a stop may have taken the placement meanwhile).
                        if take(conn, row.id, values=values):
                            placed_any = True
                            committed = committed + decision.risk
                            outstanding[decision.host_id] += float(impact.amount)
                            _log(cp, conn, row, decision, hosts_now, names)
                            assigned.append((row.id, decision.host_id))
                        continue
                    elif _retry(decision):
                        retry.append(row)
                        continue
                    else:
                        values["note"] = waiting_note(row.note, decision.summary)
                    conn.execute(
                        update(placements)
                        .where(placements.c.id == row.id, placements.c.state == "pending")
                        .values(**values)
                    )
                if not placed_any:
                    for row in retry:
                        conn.execute(
                            update(placements)
                            .where(placements.c.id == row.id)
                            .values(
                                note=waiting_note(row.note, "every eligible chip holds a replica")
                            )
                        )
                    break
                remaining = retry
        except ElsewhereError as error:  # this deployment waits; the others are still placed
            for row in remaining:
                conn.execute(
                    update(placements)
                    .where(placements.c.id == row.id, placements.c.state == "pending")
                    .values(note=waiting_note(row.note, f"cannot place: {error.message}"))
                )
        return assigned

    return assign


def _log(
    cp: ControlPlane,
    conn: Connection,
    row: Any,
    decision: Decision,
    hosts_now: Sequence[HostCandidate],
    names: dict[str, str],
) -> None:
    """The placement and its figures, in the ledger, in the placement's transaction."""
    assert decision.likelihood is not None and decision.risk is not None
    value = float(decision.impact.amount)
    chosen = Candidate(
        host=names[str(decision.host_id)],
        likelihood=float(decision.likelihood.value),
        impact=value,
        risk=float(decision.risk.amount),
    )
    others = []
    if len(hosts_now) <= 16:  # the runners-up, when few enough to list
        for host in hosts_now:
            if host.host_id == decision.host_id:
                continue
            rate = risk_settings_rate(cp, host)
            q = host.reputation.upper_bound(value)
            likelihood = rate + float(decision.keeps_per_year.value) * q
            others.append(Candidate(names[host.host_id], likelihood, value, likelihood * value))
    entry = Placement(
        at=utcnow(),
        workload=row.deployment_id,
        chosen=chosen.host,
        candidates=(chosen, *others),
        policy_digest=row.policy_digest,
        tenant=decision.tenant,
    )
    audit.append(cp.ledger, conn, [entry])


def risk_settings_rate(cp: ControlPlane, host: HostCandidate) -> float:
    return float(settings(cp.config).config.baserates.likelihood(host.platform).rate.value)
