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
from elsewhere.risk.beta import upper_bound
from elsewhere.risk.bounds import bound_table
from elsewhere.risk.guard import GuardConfig, annual_basis
from elsewhere.risk.inputs import HostCandidate, PlacementRequest
from elsewhere.risk.quantities import YEAR, CurrencyMismatch, Money, MoneyRate, Rate
from elsewhere.risk.records import Decision, Reason, Refusal, money_of
from elsewhere.risk.reputation import ReputationSnapshot


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
        cache: dict[PlatformSummary, PlatformLikelihood] = {}
        self.platform: list[PlatformLikelihood] = []
        for h in self.hosts:
            likelihood = cache.get(h.platform)
            if likelihood is None:
                likelihood = cache[h.platform] = self.config.baserates.likelihood(h.platform)
            self.platform.append(likelihood)
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
        self.s_floor = bound_table(self.config.confidence).s_floor(self.s)
        # r_V of every key on a geometric grid of values: brackets r_V at any V (see _r_most)
        seen = self.values[self.values > 0.0]
        if len(seen):
            low, high = float(seen[0]), float(seen[-1])
            ratio = max(1.25, (high / low) ** (1.0 / 400))  # at most ~400 rows
            steps = max(1, int(np.ceil(np.log(high / low) / np.log(ratio))))
            self.v_grid = low * ratio ** np.arange(steps + 1)
        else:
            self.v_grid = np.zeros(0)
        self.r_grid = np.stack([self.evidence(v) for v in self.v_grid.tolist()] or [self.total_w])
        self._committed: dict[str, MoneyRate] = {}

    def _index_evidence(self, snapshots: list[ReputationSnapshot]) -> None:
        """Flatten each key's sorted (value, weight) list, plus a sentinel, with local prefixes."""
        self.values = np.unique(np.array([v for rep in snapshots for v, _ in rep.good] or [0.0]))
        top = len(self.values)
        composite: list[int] = []
        prefix_w: list[float] = []
        prefix_wv: list[float] = []
        self.total_w = np.zeros(len(snapshots))
        self.total_wv = np.zeros(len(snapshots))
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
            self.total_wv[k] = prefix_wv[-1]
        self.composite = np.array(composite, dtype=np.int64)
        self.prefix_w = np.array(prefix_w)
        self.prefix_wv = np.array(prefix_wv)
        self.key_offsets = np.arange(len(snapshots), dtype=np.int64) * (top + 1)

    def evidence(self, value: float, keys: np.ndarray | None = None) -> np.ndarray:
        """r_V = Σ w·min(1, v/V) for the given keys (default: every key)."""
        below = int(np.searchsorted(self.values, value, side="left"))
        if keys is None:
            keys = np.arange(len(self.total_w))
        order = np.argsort(keys, kind="stable")  # sorted queries search several times faster
        pos = np.empty(len(keys), dtype=np.int64)
        pos[order] = np.searchsorted(self.composite, self.key_offsets[keys[order]] + below)
        r: np.ndarray = (self.total_w[keys] - self.prefix_w[pos]) + self.prefix_wv[pos] / value
        return r

    def _r_most(self, value: float) -> np.ndarray:
        """An upper bound on r_V for every key, from the precomputed grid.

        r_V falls as V grows and r_V·V = Σ w·min(v, V) rises, so between grid values
        a ≤ V ≤ b: r_V ≤ min(r_a, r_b · b / V). Outside the values seen: r_V ≤ Σw, Σw·v / V.
        """
        g = int(np.searchsorted(self.v_grid, value, side="right")) - 1
        if g >= len(self.v_grid) - 1:  # also: no evidence at all
            bound: np.ndarray = np.minimum(self.total_w, self.total_wv / value)
            return bound
        if g < 0:
            return self.total_w
        upper = self.r_grid[g + 1] * (self.v_grid[g + 1] / value)
        bound = np.minimum(self.r_grid[g], upper)
        return bound

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
        guard = self.config.guard
        growth = np.maximum(guard.gamma * self.max_good, guard.trial_allowance)
        exit_room = (
            np.maximum(guard.kappa * (self.collateral + self.delivered), guard.trial_allowance)
            - self.outstanding
        )
        ok_key = ~self.quarantined & (growth >= value) & (exit_room >= value)
        ranked = self._rank(ok_key[self.host_key], value, keeps, request.replicas)
        out: list[Decision] = []
        used: set[int] = set()
        for replica in range(request.replicas):
            # exit room only shrinks on keys this deployment already uses, so the ranking holds
            pick = next((c for c in ranked if int(self.host_key[c[2]]) not in used), None)
            if pick is None:
                refusals = self._refusals(used, growth, exit_room, value, impact.currency)
                out.append(Decision.refused(request, replica, budget, committed, refusals))
                continue
            _, _, chosen, q, r = pick
            k = int(self.host_key[chosen])
            host, platform = self.hosts[chosen], self.platform[chosen]
            risk = annual_basis(platform.rate, request.keeps_per_year, budget).risk(q, impact)
            remaining = budget - committed
            caps = (money_of(growth[k], impact.currency), money_of(exit_room[k], impact.currency))
            figures = (host, platform, risk, (r, float(self.s[k]), q), caps, self.config.confidence)
            if risk > remaining:
                detail = (
                    f"the least risk, {risk} on {host.host_id}, exceeds the remaining {remaining}"
                )
                open_key = ok_key.copy()
                open_key[list(used)] = False
                eligible = int(open_key[self.host_key].sum())
                why = (Refusal(Reason.RISK_BUDGET, eligible, len(self.hosts), detail),)
                out.append(
                    Decision.placed_on(
                        request,
                        replica,
                        budget,
                        committed,
                        *figures,
                        placed=False,
                        refusals=why,
                    )
                )
                continue
            out.append(Decision.placed_on(request, replica, budget, committed, *figures))
            committed = committed + risk
            used.add(k)
            self.outstanding[k] += value
        self._committed[request.tenant] = committed
        return out

    def _rank(
        self, ok: np.ndarray, value: float, keeps: float, replicas: int
    ) -> list[tuple[float, float, int, float, float]]:
        """The least-risk eligible hosts, enough for `replicas` distinct keys, in order.

        Rows are (risk, outstanding, host index, q, r_V), sorted: ties go to less outstanding
        exposure, then the earlier host. A cheap lower bound for every host (r_V is at most
        min(Σw, Σw·v / V); q there from the grid, rounded down) keeps only hosts under an
        upper bound on the `replicas`-th best risk; those are bracketed at their own evidence
        (grid), and q is computed exactly, in ascending order of the lower bracket, only while
        a host can still enter the top. The result equals exact scoring of every host.
        """
        # r_V ≤ min(Σw, Σw·v / V): q at that r (grid rounded up) bounds every key from below
        table = bound_table(self.config.confidence)
        r_most = self._r_most(value)
        q_least = table.lower(self.s_floor, r_most)[self.host_key]
        floor = np.where(ok, (self.p_year + keeps * q_least) * value, np.inf)
        eligible = int(ok.sum())
        if eligible == 0:
            return []
        # 1. an upper bound on the replicas-th best risk, from the hosts the cheap bound favours
        head = min(eligible, max(64, 4 * replicas))
        first = np.argpartition(floor, head - 1)[:head] if eligible > head else np.flatnonzero(ok)
        cutoff = self._kth_upper(first, value, keeps, replicas)
        # 2. every host whose cheap bound is under it, bracketed at its own evidence
        idx = np.flatnonzero(floor <= cutoff)
        keys = self.host_key[idx]
        r = self.evidence(value, keys)
        s = self.s[keys]
        lower, upper = table.bracket(r, s)
        low_risk = (self.p_year[idx] + keeps * lower) * value
        cutoff = min(
            cutoff,
            _kth_smallest_per_key((self.p_year[idx] + keeps * upper) * value, keys, replicas),
        )
        # 3. exact q, by ascending lower bound, until no host left can enter the top
        live = np.flatnonzero(low_risk <= cutoff)
        best: dict[int, tuple[float, float, int, float, float]] = {}  # per key
        threshold = cutoff
        memo: dict[tuple[float, float], float] = {}
        for j in live[np.argsort(low_risk[live], kind="stable")].tolist():
            if low_risk[j] > threshold:
                break
            pair = (float(r[j]), float(s[j]))
            q = memo.get(pair)
            if q is None:
                q = memo[pair] = upper_bound(pair[0], pair[1], self.config.confidence)
            i, k = int(idx[j]), int(keys[j])
            row = ((self.p_year[i] + keeps * q) * value, self.outstanding[k], i, q, pair[0])
            if k not in best or row < best[k]:
                best[k] = row
                if replicas == 1:
                    threshold = min(threshold, row[0])
                elif len(best) >= replicas:
                    kth = sorted(v[0] for v in best.values())[replicas - 1]
                    threshold = min(threshold, kth)
        return sorted(best.values())

    def _kth_upper(self, idx: np.ndarray, value: float, keeps: float, replicas: int) -> float:
        """An upper bound on the replicas-th least risk: exact q for the `replicas` keys whose
        upper bracket is least among `idx` (any `replicas` keys' worst risk bounds it)."""
        keys = self.host_key[idx]
        r = self.evidence(value, keys)
        _, upper = bound_table(self.config.confidence).bracket(r, self.s[keys])
        order = np.argsort((self.p_year[idx] + keeps * upper) * value, kind="stable")
        worst, seen = -np.inf, set()
        for j in order.tolist():
            k = int(keys[j])
            if k in seen:
                continue
            seen.add(k)
            q = upper_bound(float(r[j]), float(self.s[k]), self.config.confidence)
            worst = max(worst, (self.p_year[idx[j]] + keeps * q) * value)
            if len(seen) == replicas:
                return float(worst)
        return np.inf

    def _refusals(
        self,
        used: set[int],
        growth: np.ndarray,
        exit_room: np.ndarray,
        value: float,
        currency: str,
    ) -> list[Refusal]:
        guard = self.config.guard
        hk = self.host_key
        same = np.zeros(len(self.keys), dtype=bool)
        same[list(used)] = True
        blocked = {
            Reason.QUARANTINED: (self.quarantined[hk], ""),
            Reason.SAME_DEPLOYMENT: (same[hk], "one replica per chip or host"),
            Reason.GROWTH_CAP: (
                (growth < value)[hk],
                f"the largest allowed is {_largest(growth, currency)} "
                f"({guard.gamma:g} × the largest keep completed)",
            ),
            Reason.EXIT_CAP: (
                (exit_room < value)[hk],
                f"the most room is {_largest(exit_room, currency)} "
                f"({guard.kappa:g} × (collateral + value delivered) − outstanding)",
            ),
        }
        return [
            Refusal(reason, int(mask.sum()), len(self.hosts), detail)
            for reason, (mask, detail) in blocked.items()
            if mask.any()
        ]


def _kth_smallest_per_key(risk: np.ndarray, keys: np.ndarray, k: int) -> float:
    """The k-th smallest of each key's least risk (inf when fewer than k keys)."""
    if len(risk) == 0:
        return np.inf
    if k == 1:
        return float(risk.min())
    order = np.lexsort((risk, keys))
    first = np.ones(len(order), dtype=bool)
    first[1:] = keys[order][1:] != keys[order][:-1]
    per_key = risk[order][first]
    return float(np.partition(per_key, k - 1)[k - 1]) if len(per_key) >= k else np.inf


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
