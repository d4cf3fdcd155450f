"""The long-game guard: how much value one host (reputation key) may be trusted with now.

Four limits on the value V of a new placement; the smallest binds:

- risk budget: (platform + keeps · q(r_V, s)) · V ≤ budget, all in one period; q rises with V
  because evidence is value-relative, so the largest V is found by bisection (monotone);
- growth cap: V ≤ γ · (largest completed keep), γ = 2 — trust grows by doubling at most;
- exit cap: outstanding + V ≤ κ · (collateral + decayed value delivered), κ = 0.5 — walking
  away with everything outstanding must not pay more than the record and collateral were worth;
- quarantine: a CUSUM alarm or an operator stops all new placements.

A host with no record gets `trial_allowance` under both caps (the value an operator accepts to
lose to onboard a host; default 0: newcomers need collateral).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from enum import StrEnum
from typing import Any

from elsewhere.errors import ConfigError
from elsewhere.risk.quantities import KEEP, Money, MoneyRate, Rate
from elsewhere.risk.reputation import ReputationSnapshot


class Bound(StrEnum):
    REQUEST = "request"  # nothing binds below the requested value
    RISK = "risk budget"
    GROWTH = "growth cap"
    EXIT = "exit cap"
    QUARANTINE = "quarantine"


@dataclass(frozen=True)
class GuardConfig:
    gamma: float = 2.0
    kappa: float = 0.5
    trial_allowance: float = 0.0

    def __post_init__(self) -> None:
        if not self.gamma >= 1.0:
            raise ConfigError("guard", "gamma", f"{self.gamma} < 1 would shrink trust on success")
        if not 0.0 < self.kappa <= 1.0:
            raise ConfigError("guard", "kappa", f"{self.kappa} not in (0, 1]")
        if not self.trial_allowance >= 0.0:
            raise ConfigError("guard", "trial_allowance", "must not be negative")

    def growth_limit(self, max_good: float) -> float:
        return max(self.gamma * max_good, self.trial_allowance)

    def exit_limit(self, collateral: float, delivered: float, outstanding: float) -> float:
        """Value that may still be added on top of what is outstanding."""
        return max(self.kappa * (collateral + delivered), self.trial_allowance) - outstanding


@dataclass(frozen=True)
class RiskBasis:
    """The terms of one risk comparison, checked to share one period and one currency.

    `platform` is the platform likelihood and `keeps` how many keeps the workload runs per
    period, both in the budget's period. A per-keep budget takes platform per keep and keeps
    = 1 per keep; an annual budget takes rates per year. Mixing raises PeriodMismatch /
    CurrencyMismatch here, before any arithmetic.
    """

    platform: Rate
    keeps: Rate
    budget: MoneyRate

    def __post_init__(self) -> None:
        probe = self.likelihood(0.0) * Money(Decimal(0), self.budget.currency)
        _ = probe <= self.budget  # raises on a period or currency mismatch

    def likelihood(self, q: float) -> Rate:
        record = Rate(q, KEEP)
        if self.keeps.period != KEEP:
            record = record.over(self.keeps)
        return self.platform + record

    def risk(self, q: float, impact: Money) -> MoneyRate:
        """likelihood × impact, rounded up to the cent (a risk is never understated)."""
        exact: MoneyRate = self.likelihood(q) * impact
        cents = exact.amount.quantize(Decimal("0.01"), rounding=ROUND_CEILING)
        return MoneyRate(Money(cents, exact.currency), exact.period)

    @property
    def floats(self) -> tuple[float, float, float]:
        """(platform rate, keeps per period, budget amount) for the inner loops."""
        return (float(self.platform.value), float(self.keeps.value), float(self.budget.amount))


def annual_basis(platform: Rate, keeps_per_year: Rate, budget: MoneyRate) -> RiskBasis:
    """A basis with everything annualised (explicit conversions of time periods only)."""
    return RiskBasis(platform.annualised(), keeps_per_year.annualised(), budget.annualised())


def per_keep_basis(platform: Rate, budget: MoneyRate) -> RiskBasis:
    return RiskBasis(platform, Rate(1, KEEP), budget)


@dataclass(frozen=True)
class Exposure:
    """How much one key may be given now, and why not more."""

    allowed: float
    binding: Bound
    growth_limit: float
    exit_limit: float
    risk_limit: float
    q: float
    r: float
    s: float

    def to_json(self) -> dict[str, Any]:
        def num(x: float) -> float | str:
            return x if math.isfinite(x) else "inf"

        return {
            "allowed": self.allowed,
            "binding": self.binding.value,
            "growth_limit": num(self.growth_limit),
            "exit_limit": num(self.exit_limit),
            "risk_limit": num(self.risk_limit),
            "q": self.q,
            "r": self.r,
            "s": self.s,
        }


def risk_limit(
    snapshot: ReputationSnapshot, basis: RiskBasis, ceiling: float, *, rel_tol: float = 1e-9
) -> float:
    """Largest V ≤ ceiling with (platform + keeps · q(V)) · V ≤ budget (bisection; monotone)."""
    platform, keeps, budget = basis.floats

    def risk(value: float) -> float:
        return (platform + keeps * snapshot.upper_bound(value)) * value

    if ceiling <= 0.0 or budget <= 0.0:
        return 0.0
    if risk(ceiling) <= budget:
        return ceiling
    lo, hi = 0.0, ceiling
    while hi - lo > max(rel_tol * hi, 1e-9):  # a billionth of a currency unit is enough
        mid = 0.5 * (lo + hi)
        if risk(mid) <= budget:
            lo = mid
        else:
            hi = mid
    return lo


def max_exposure(
    snapshot: ReputationSnapshot,
    basis: RiskBasis,
    config: GuardConfig,
    *,
    request: float = math.inf,
    collateral: float = 0.0,
    outstanding: float = 0.0,
) -> Exposure:
    """The largest value this key may be given now (≤ request), and the bound that binds."""
    growth = config.growth_limit(snapshot.max_good)
    exit_room = config.exit_limit(collateral, snapshot.delivered, outstanding)
    if snapshot.quarantined is not None:
        at = request if math.isfinite(request) else 0.0
        r, s = snapshot.evidence(at)
        q = snapshot.upper_bound(at)
        return Exposure(0.0, Bound.QUARANTINE, growth, exit_room, 0.0, q, r, s)
    candidates = [(request, Bound.REQUEST), (growth, Bound.GROWTH), (exit_room, Bound.EXIT)]
    ceiling, binding = min(candidates, key=lambda c: c[0])  # growth is always finite
    ceiling = max(ceiling, 0.0)
    limit = risk_limit(snapshot, basis, ceiling)
    if limit < ceiling:
        binding = Bound.RISK
    r, s = snapshot.evidence(limit)
    q = snapshot.upper_bound(limit)
    # risk_limit is inf when the budget does not bind below the other limits
    risk_room = limit if binding is Bound.RISK else math.inf
    return Exposure(limit, binding, growth, exit_room, risk_room, q, r, s)
