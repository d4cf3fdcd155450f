"""Risk-aware placement: each replica to the eligible host with least risk, or a typed refusal.

The caller (the control plane) passes only hosts its policy accepted, each with its platform
summary and reputation snapshot. For a workload of value V (its impact), run `keeps` times a
year, a host's annual risk is

    risk = (platform likelihood/year + keeps/year · q(r_V, s)) · V

with q the upper credible bound of its reputation (reputation.py). A host is a candidate only
if it is not quarantined, holds no other replica of the same deployment (by reputation key, so
one chip never holds two), and V fits under its growth and exit caps (guard.py). The least-risk
candidate gets the replica if the tenant's remaining annual budget covers its risk; otherwise
the replica is refused, with every reason that applied.

Hosts are scored as numpy arrays: value-relative evidence by a segmented search over each key's
sorted completed-keep values, q bracketed from a grid (bounds.py) and computed exactly only for
the hosts whose bracket can beat the best upper bound. The result equals exact scoring of every
host; ties go to the host with less outstanding exposure, then to the earlier host.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from elsewhere.errors import ConfigError, InputError
from elsewhere.risk.baserates import BaseRates, PlatformLikelihood, PlatformSummary, load_baserates
from elsewhere.risk.betaq import upper_bound
from elsewhere.risk.bounds import bound_table
from elsewhere.risk.guard import GuardConfig, annual_basis
from elsewhere.risk.quantities import YEAR, CurrencyMismatch, Money, MoneyRate, Rate
from elsewhere.risk.records import Decision, Reason, Refusal, money_of
from elsewhere.risk.reputation import ReputationSnapshot


@dataclass(frozen=True)
class HostCandidate:
    """A host policy accepted, with what placement needs to weigh it."""

    host_id: str
    platform: PlatformSummary
    reputation: ReputationSnapshot
    collateral: Money | None = None  # posted by the operator of this key
    outstanding: Money | None = None  # value already placed on this key


@dataclass(frozen=True)
class PlacementRequest:
    deployment_id: str
    tenant: str
    impact: Money  # what compromise of the workload would cost
    replicas: int
    budget: MoneyRate  # the tenant's risk budget (annualised here)
    committed: MoneyRate | None = None  # risk the tenant already carries (annualised here)
    keeps_per_year: Rate = field(default_factory=lambda: Rate(1, YEAR))

    def __post_init__(self) -> None:
        if self.replicas < 1:
            raise InputError("placement", self.deployment_id, "replicas must be at least 1")
        if self.impact.amount <= 0:
            raise InputError("placement", self.deployment_id, "impact must be positive")


@dataclass(frozen=True)
class PlacementConfig:
    guard: GuardConfig = field(default_factory=GuardConfig)
    baserates: BaseRates = field(default_factory=load_baserates)
    confidence: float = 0.95


class PlacementEngine:
    """Columnar view of the candidates; `place` may be called repeatedly (state carries over)."""

    def __init__(self, hosts: Sequence[HostCandidate], config: PlacementConfig | None = None):
        self.config = config or PlacementConfig()
        self.hosts = tuple(hosts)
        if not self.hosts:
            raise InputError("placement", "hosts", "no hosts to place on")
        keys: dict[str, int] = {}
        snapshots: list[ReputationSnapshot] = []
        currencies: set[str] = set()
        for host in self.hosts:
            rep = host.reputation
            if abs(rep.confidence - self.config.confidence) > 1e-12:
                raise ConfigError(
                    "placement", host.host_id, "reputation confidence differs from placement's"
                )
            if rep.key not in keys:
                keys[rep.key] = len(keys)
                snapshots.append(rep)
            elif snapshots[keys[rep.key]] != rep:
                raise InputError(
                    "placement",
                    host.host_id,
                    f"a different reputation for {rep.key} than "
                    "another host on the same key: pass one snapshot per key",
                )
            currencies.update(
                c
                for c in (rep.currency, _cur(host.collateral), _cur(host.outstanding))
                if c is not None
            )
        if len(currencies) > 1:
            first, *rest = sorted(currencies)
            raise CurrencyMismatch("place across hosts valued in", first, rest[0])
        self.currency = currencies.pop() if currencies else None
        self.keys = list(keys)
        self.host_key = np.array([keys[h.reputation.key] for h in self.hosts], dtype=np.int64)
        self.platform: list[PlatformLikelihood] = [
            self.config.baserates.likelihood(h.platform) for h in self.hosts
        ]
        self.p_year = np.array([float(p.rate.value) for p in self.platform])
        n_keys = len(self.keys)
        self.s = np.array([rep.bad for rep in snapshots])
        self.max_good = np.array([rep.max_good for rep in snapshots])
        self.delivered = np.array([rep.delivered for rep in snapshots])
        self.quarantined = np.array([rep.quarantined is not None for rep in snapshots])
        self.collateral = np.zeros(n_keys)
        self.outstanding = np.zeros(n_keys)
        for host, k in zip(self.hosts, self.host_key.tolist(), strict=True):
            if host.collateral is not None:
                self.collateral[k] = max(self.collateral[k], float(host.collateral.amount))
            if host.outstanding is not None:
                self.outstanding[k] += float(host.outstanding.amount)
        self._index_evidence(snapshots)
        self._committed: dict[str, MoneyRate] = {}

    def _index_evidence(self, snapshots: list[ReputationSnapshot]) -> None:
        """Flatten each key's sorted (value, weight) list, plus a sentinel, with local prefixes."""
        self.values = np.unique(np.array([v for rep in snapshots for v, _ in rep.good] or [0.0]))
        top = len(self.values)
        composite: list[int] = []
        prefix_w: list[float] = []
        prefix_wv: list[float] = []
        self.total_w = np.zeros(len(snapshots))
        ranks = iter(
            np.searchsorted(self.values, [v for rep in snapshots for v, _ in rep.good]).tolist()
        )
        for k, rep in enumerate(snapshots):
            weights = [w for _, w in rep.good]
            wv = [v * w for v, w in rep.good]
            composite.extend(k * (top + 1) + next(ranks) for _ in rep.good)
            composite.append(k * (top + 1) + top)  # sentinel: above every value
            prefix_w.extend(itertools.accumulate(weights, initial=0.0))
            prefix_wv.extend(itertools.accumulate(wv, initial=0.0))
            self.total_w[k] = prefix_w[-1]
        self.composite = np.array(composite, dtype=np.int64)
        self.prefix_w = np.array(prefix_w)
        self.prefix_wv = np.array(prefix_wv)
        self.key_offsets = np.arange(len(snapshots), dtype=np.int64) * (top + 1)

    def evidence(self, value: float) -> np.ndarray:
        """r_V for every key: Σ w·min(1, v/V)."""
        below = int(np.searchsorted(self.values, value, side="left"))
        pos = np.searchsorted(self.composite, self.key_offsets + below, side="left")
        r: np.ndarray = (self.total_w - self.prefix_w[pos]) + self.prefix_wv[pos] / value
        return r

    def place(self, requests: Sequence[PlacementRequest]) -> tuple[Decision, ...]:
        decisions: list[Decision] = []
        for request in requests:
            decisions.extend(self._place_one(request))
        return tuple(decisions)

    def _place_one(self, request: PlacementRequest) -> list[Decision]:
        impact = request.impact
        if self.currency is not None and impact.currency != self.currency:
            raise CurrencyMismatch("place", str(impact), f"hosts valued in {self.currency}")
        budget = request.budget.annualised()
        basis = annual_basis(Rate(0, YEAR), request.keeps_per_year, budget)
        committed = self._committed.get(request.tenant)
        if committed is None:
            start = request.committed or MoneyRate.of(0, budget.currency, YEAR)
            committed = start.annualised()
        _ = committed <= budget  # raises on a currency mismatch
        value = float(impact.amount)
        keeps = float(basis.keeps.value)
        r_host = self.evidence(value)[self.host_key]
        s_host = self.s[self.host_key]
        lower, upper = bound_table(self.config.confidence).bracket(r_host, s_host)
        risk_lo = (self.p_year + keeps * lower) * value
        risk_hi = (self.p_year + keeps * upper) * value
        exact: dict[int, float] = {}
        used = np.zeros(len(self.keys), dtype=bool)
        out: list[Decision] = []
        guard = self.config.guard
        growth = np.maximum(guard.gamma * self.max_good, guard.trial_allowance)
        exit_limit = np.maximum(
            guard.kappa * (self.collateral + self.delivered), guard.trial_allowance
        )
        static_block = (self.quarantined | (growth < value))[self.host_key]
        for replica in range(request.replicas):
            exit_room = exit_limit - self.outstanding
            feasible = ~(static_block | (used | (exit_room < value))[self.host_key])
            if not feasible.any():
                cur = impact.currency
                hk = self.host_key
                blocked = {
                    Reason.QUARANTINED: (self.quarantined[hk], ""),
                    Reason.SAME_DEPLOYMENT: (used[hk], "one replica per chip or host"),
                    Reason.GROWTH_CAP: (
                        (growth < value)[hk],
                        f"the largest allowed is {_largest(growth, cur)} "
                        f"({guard.gamma:g} × the largest keep completed)",
                    ),
                    Reason.EXIT_CAP: (
                        (exit_room < value)[hk],
                        f"the most room is {_largest(exit_room, cur)} "
                        f"({guard.kappa:g} × (collateral + value delivered) − outstanding)",
                    ),
                }
                refusals = [
                    Refusal(reason, int(mask.sum()), len(self.hosts), detail)
                    for reason, (mask, detail) in blocked.items()
                    if mask.any()
                ]
                out.append(Decision.refused(request, replica, budget, committed, refusals))
                continue
            best_hi = np.where(feasible, risk_hi, np.inf).min()
            contenders = np.flatnonzero(feasible & (risk_lo <= best_hi))
            chosen = self._least_risk(contenders, risk_lo, r_host, s_host, keeps, value, exact)
            q = exact[chosen]
            k = int(self.host_key[chosen])
            host = self.hosts[chosen]
            platform = self.platform[chosen]
            risk = annual_basis(platform.rate, request.keeps_per_year, budget).risk(q, impact)
            remaining = budget - committed
            caps = (money_of(growth[k], impact.currency), money_of(exit_room[k], impact.currency))
            evidence = (float(r_host[chosen]), float(s_host[chosen]), q)
            figures = (host, platform, risk, evidence, caps, self.config.confidence)
            if risk > remaining:
                detail = (
                    f"the least risk, {risk} on {host.host_id}, exceeds the remaining {remaining}"
                )
                refusals = [
                    Refusal(Reason.RISK_BUDGET, int(feasible.sum()), len(self.hosts), detail)
                ]
                decision = Decision.placed_on(
                    request,
                    replica,
                    budget,
                    committed,
                    *figures,
                    placed=False,
                    refusals=tuple(refusals),
                )
                out.append(decision)
                continue
            out.append(Decision.placed_on(request, replica, budget, committed, *figures))
            committed = committed + risk
            used[k] = True
            self.outstanding[k] += value
        self._committed[request.tenant] = committed
        return out

    def _least_risk(
        self,
        contenders: np.ndarray,
        risk_lo: np.ndarray,
        r_host: np.ndarray,
        s_host: np.ndarray,
        keeps: float,
        value: float,
        exact: dict[int, float],
    ) -> int:
        """The contender with least exact risk (ties: less outstanding, then earlier).

        Contenders are visited by ascending lower bound; once a lower bound exceeds the best
        exact risk found, no later contender can beat it.
        """
        order = contenders[np.argsort(risk_lo[contenders], kind="stable")]
        best = np.inf
        tied: list[int] = []
        memo: dict[tuple[float, float], float] = {}
        for i in order.tolist():
            if risk_lo[i] > best:
                break
            q = exact.get(i)
            if q is None:
                pair = (float(r_host[i]), float(s_host[i]))
                q = memo.get(pair)
                if q is None:
                    q = memo[pair] = upper_bound(pair[0], pair[1], self.config.confidence)
                exact[i] = q
            risk = (self.p_year[i] + keeps * q) * value
            if risk < best:
                best, tied = risk, [i]
            elif risk == best:
                tied.append(i)
        return min(tied, key=lambda i: (self.outstanding[self.host_key[i]], i))


def _largest(values: np.ndarray, currency: str) -> Money:
    return money_of(max(float(values.max()), 0.0), currency)


def _cur(money: Money | None) -> str | None:
    return None if money is None else money.currency


def place(
    hosts: Sequence[HostCandidate],
    requests: Sequence[PlacementRequest],
    config: PlacementConfig | None = None,
) -> tuple[Decision, ...]:
    """Place every replica of every request (in order) over `hosts`."""
    if not hosts:
        return tuple(
            Decision.refused(
                request,
                replica,
                request.budget.annualised(),
                (request.committed or MoneyRate.of(0, request.budget.currency, YEAR)).annualised(),
                [Refusal(Reason.NO_ELIGIBLE_HOSTS, 0, 0)],
            )
            for request in requests
            for replica in range(request.replicas)
        )
    return PlacementEngine(hosts, config).place(requests)
