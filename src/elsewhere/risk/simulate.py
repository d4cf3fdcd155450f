"""Replay a scripted sequence of jobs and outcomes against sizing strategies.

A scenario (TOML, schema elsewhere.risk.scenario/1, see docs/risk.md) lists jobs: each asks
for an exposure (the value the host would hold) and has an outcome — `good` (completed),
`lost` (an honest failure: availability lost, nothing disclosed) or `defect` (the host betrays
the keep: the granted value is lost). Each strategy decides how much to grant, sees the
outcome of what it granted, and learns from it:

- `count`: count-based sizing, the error the guard exists to prevent: r = jobs done, s = jobs
  failed, no penalty, no forgetting, no value weighting; grant = min(request, b / q95);
- `guard`: value-relative evidence, penalty, asymmetric forgetting, growth and exit caps;
- `guard+cusum`: the same, and a CUSUM alarm quarantines the host (no further grants).

Every strategy runs a CUSUM on what it saw, so the alarm step is reported for all three.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from elsewhere.errors import ConfigError
from elsewhere.risk.beta import upper_bound
from elsewhere.risk.cusum import BernoulliCusum, CusumConfig
from elsewhere.risk.guard import Bound, GuardConfig, RiskBasis, max_exposure, per_keep_basis
from elsewhere.risk.quantities import (
    KEEP,
    Money,
    MoneyRate,
    QuantityError,
    Rate,
    in_range,
    parse_period,
    to_decimal,
)
from elsewhere.risk.reputation import Event, EventKind, ReputationBook, ReputationConfig
from elsewhere.timeutil import iso, parse_time

SCHEMA = "elsewhere.risk.scenario/1"
STRATEGIES = ("count", "guard", "guard+cusum")
OUTCOMES = ("good", "lost", "defect")
MAX_JOBS = 100_000


@dataclass(frozen=True)
class Job:
    request: float
    outcome: str


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    currency: str
    start: dt.datetime
    step: dt.timedelta
    basis: RiskBasis
    reputation: ReputationConfig
    guard: GuardConfig
    cusum: CusumConfig
    collateral: float
    jobs: tuple[Job, ...]
    strategies: tuple[str, ...] = STRATEGIES


@dataclass(frozen=True)
class Row:
    step: int
    at: dt.datetime
    strategy: str
    request: float
    granted: float
    outcome: str
    loss: float
    cumulative_granted: float
    cumulative_loss: float
    binding: str
    q: float
    cusum: float
    alarm: bool
    quarantined: bool

    HEADER = (
        "step,time,strategy,request,granted,outcome,loss,cumulative_granted,cumulative_loss,"
        "binding,q,cusum,alarm,quarantined"
    )

    def csv(self) -> str:
        at = iso(self.at)
        return (
            f"{self.step},{at},{self.strategy},{self.request:.2f},{self.granted:.2f},"
            f"{self.outcome},{self.loss:.2f},{self.cumulative_granted:.2f},"
            f"{self.cumulative_loss:.2f},{self.binding},{self.q:.6f},{self.cusum:.4f},"
            f"{int(self.alarm)},{int(self.quarantined)}"
        )


def _get(doc: Mapping[str, Any], name: str, kind: type | tuple[type, ...], default: Any) -> Any:
    value = doc.get(name, default)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ConfigError("scenario", name, f"expected {getattr(kind, '__name__', kind)}")
    return value


def _float(doc: Mapping[str, Any], name: str, default: float) -> float:
    value = _get(doc, name, (int, float, str), default)
    return float(in_range(to_decimal(value, name), "scenario", name))


def scenario_from_doc(doc: Mapping[str, Any]) -> Scenario:
    if doc.get("schema") != SCHEMA:
        raise ConfigError("scenario", "schema", f"expected schema = {SCHEMA!r}")
    currency = _get(doc, "currency", str, "USD")
    model = _get(doc, "model", dict, {})
    try:
        budget_doc = _get(model, "budget", dict, None)
        budget = MoneyRate(
            Money(to_decimal(budget_doc.get("amount", 0), "model.budget.amount"), currency),
            parse_period(str(budget_doc.get("per", "keep")), "model.budget.per"),
        )
        plat = _get(model, "platform_likelihood", dict, {"value": 0, "per": "keep"})
        platform = Rate(
            to_decimal(plat.get("value", 0), "model.platform_likelihood.value"),
            parse_period(str(plat.get("per", "keep")), "model.platform_likelihood.per"),
        )
        if budget.period == KEEP:
            basis = per_keep_basis(platform, budget)
        else:
            keeps = Rate(_float(model, "keeps_per_period", 1.0), budget.period)
            basis = RiskBasis(platform, keeps, budget)
    except QuantityError as error:
        raise ConfigError("scenario", "model", error.message) from None
    reputation = ReputationConfig(
        tau_good_days=_float(model, "tau_good_days", 180.0),
        tau_bad_days=_float(model, "tau_bad_days", 720.0),
        penalty=_float(model, "penalty", 2.0),
        confidence=_float(model, "confidence", 0.95),
    )
    guard = GuardConfig(
        gamma=_float(model, "gamma", 2.0),
        kappa=_float(model, "kappa", 0.5),
        trial_allowance=_float(model, "trial_allowance", 0.0),
    )
    cusum_doc = _get(doc, "cusum", dict, {})
    cusum = CusumConfig(
        p0=_float(cusum_doc, "p0", 0.01),
        p1=_float(cusum_doc, "p1", 0.10),
        h=_float(cusum_doc, "h", 3.0),
    )
    jobs: list[Job] = []
    for b, block in enumerate(_get(doc, "block", list, [])):
        where = f"block[{b}]"
        if not isinstance(block, dict):
            raise ConfigError("scenario", where, "expected a table")
        repeat = _get(block, "repeat", int, 1)
        steps = _get(block, "jobs", list, [])
        for s, step in enumerate(steps):
            if not isinstance(step, dict) or step.get("outcome") not in OUTCOMES:
                raise ConfigError("scenario", f"{where}.jobs[{s}]", f"outcome: one of {OUTCOMES}")
            count = _get(step, "count", int, 1)
            if count < 0 or repeat < 0:
                raise ConfigError("scenario", f"{where}.jobs[{s}]", "counts must be >= 0")
        if repeat * sum(int(st.get("count", 1)) for st in steps) + len(jobs) > MAX_JOBS:
            raise ConfigError("scenario", where, f"more than {MAX_JOBS} jobs")
        for _ in range(repeat):
            for step in steps:
                request = _float(step, "request", 0.0)
                if not request > 0:
                    raise ConfigError("scenario", where, "request must be positive")
                jobs.extend(Job(request, step["outcome"]) for _ in range(step.get("count", 1)))
    if not jobs:
        raise ConfigError("scenario", "block", "no jobs")
    step_hours = _float(doc, "step_hours", 24.0)
    if not 0.0 <= step_hours <= 24.0 * 366:
        raise ConfigError("scenario", "step_hours", "expected 0 to 8784 hours (a year)")
    start = parse_time(_get(doc, "start", str, "2025-01-01T00:00:00Z"), where="start")
    step = dt.timedelta(hours=step_hours)
    try:
        _ = start + step * len(jobs)
    except OverflowError:
        raise ConfigError("scenario", "start", "the jobs run past the year 9999") from None
    strategies = tuple(_get(doc, "strategies", list, list(STRATEGIES)))
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown:
        raise ConfigError("scenario", "strategies", f"unknown {unknown}; use {STRATEGIES}")
    return Scenario(
        name=_get(doc, "name", str, "scenario"),
        description=_get(doc, "description", str, ""),
        currency=currency,
        start=start,
        step=step,
        basis=basis,
        reputation=reputation,
        guard=guard,
        cusum=cusum,
        collateral=_float(model, "collateral", 0.0),
        jobs=tuple(jobs),
        strategies=strategies,
    )


def load_scenario(path: Path) -> Scenario:
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError("scenario", str(path), error.strerror or str(error)) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError("scenario", str(path), f"not valid TOML: {error}") from None
    return scenario_from_doc(doc)


def _count_grant(good: int, bad: int, request: float, scenario: Scenario) -> tuple[float, float]:
    q = upper_bound(float(good), float(bad), scenario.reputation.confidence)
    platform, keeps, budget = scenario.basis.floats
    allowed = budget / (platform + keeps * q)
    return (min(request, allowed), q)


def run(scenario: Scenario) -> list[Row]:
    """Every strategy over every job, in order; rows grouped by strategy."""
    rows: list[Row] = []
    for strategy in scenario.strategies:
        book = ReputationBook(scenario.reputation, scenario.cusum)
        key = book.key_for("simulated-host")
        detector = BernoulliCusum(scenario.cusum)
        good = bad = 0
        total_granted = total_loss = 0.0
        for n, job in enumerate(scenario.jobs, start=1):
            at = scenario.start + scenario.step * (n - 1)
            if strategy == "count":
                granted, q = _count_grant(good, bad, job.request, scenario)
                binding = Bound.RISK if granted < job.request else Bound.REQUEST
            else:
                snapshot = book.snapshot(key, at)
                if strategy == "guard":
                    snapshot = replace(snapshot, quarantined=None)  # sees the alarm, ignores it
                exposure = max_exposure(
                    snapshot,
                    scenario.basis,
                    scenario.guard,
                    request=job.request,
                    collateral=scenario.collateral,
                )
                granted, q, binding = exposure.allowed, exposure.q, exposure.binding
            ran = granted > 0.0
            loss = granted if ran and job.outcome == "defect" else 0.0
            alarm = False
            if ran:
                failed = job.outcome != "good"
                good, bad = good + (not failed), bad + failed
                alarm = detector.update(failed)
                kind = EventKind.KEEP_LOST if failed else EventKind.KEEP_COMPLETED
                book.record(key, Event(kind, at, Money(to_decimal(granted), scenario.currency)))
            total_granted += granted
            total_loss += loss
            rows.append(
                Row(
                    step=n,
                    at=at,
                    strategy=strategy,
                    request=job.request,
                    granted=granted,
                    outcome=job.outcome if ran else "not run",
                    loss=loss,
                    cumulative_granted=total_granted,
                    cumulative_loss=total_loss,
                    binding=binding.value,
                    q=q,
                    cusum=detector.statistic,
                    alarm=alarm,
                    quarantined=strategy == "guard+cusum" and detector.alarmed,
                )
            )
    return rows


@dataclass(frozen=True)
class Summary:
    strategy: str
    jobs_run: int
    granted: float
    loss: float
    largest_grant: float
    alarm_step: int | None

    def to_json(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "jobs_run": self.jobs_run,
            "granted": round(self.granted, 2),
            "loss": round(self.loss, 2),
            "largest_grant": round(self.largest_grant, 2),
            "alarm_step": self.alarm_step,
        }


def summarise(rows: list[Row]) -> list[Summary]:
    out: list[Summary] = []
    for strategy in dict.fromkeys(r.strategy for r in rows):
        mine = [r for r in rows if r.strategy == strategy]
        alarms = [r.step for r in mine if r.alarm]
        out.append(
            Summary(
                strategy=strategy,
                jobs_run=sum(1 for r in mine if r.outcome != "not run"),
                granted=mine[-1].cumulative_granted,
                loss=mine[-1].cumulative_loss,
                largest_grant=max(r.granted for r in mine),
                alarm_step=alarms[0] if alarms else None,
            )
        )
    return out
