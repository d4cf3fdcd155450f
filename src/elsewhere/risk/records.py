"""The frozen record of one placement decision, written to the ledger as `to_json()`.

Every figure the decision used is in it: the likelihood (platform and record terms, per year),
the impact, the risk, the upper credible bound and the evidence it came from, the caps, which
bound was closest to binding, and for a refusal every reason, typed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from elsewhere.risk.baserates import PlatformLikelihood
from elsewhere.risk.inputs import HostCandidate, PlacementRequest
from elsewhere.risk.quantities import YEAR, Money, MoneyRate, Rate

SCHEMA = "elsewhere.risk.placement/1"


class Reason(StrEnum):
    NO_ELIGIBLE_HOSTS = "no eligible hosts"
    QUARANTINED = "quarantined"
    SAME_DEPLOYMENT = "already holds a replica of this deployment"
    GROWTH_CAP = "growth cap"
    EXIT_CAP = "exit cap"
    RISK_BUDGET = "risk budget"


@dataclass(frozen=True)
class Refusal:
    """A reason that applied, and to how many of the hosts offered."""

    reason: Reason
    hosts: int
    of_hosts: int
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "reason": self.reason.name.lower(),
            "text": str(self),
            "hosts": self.hosts,
            "of_hosts": self.of_hosts,
        }

    def __str__(self) -> str:
        text = f"{self.reason.value} ({self.hosts} of {self.of_hosts} hosts)"
        return f"{text}: {self.detail}" if self.detail else text


def _amount(x: float) -> Decimal:
    text = f"{x:.6f}".rstrip("0").rstrip(".") if math.isfinite(x) else "0"
    return Decimal(text)


def money_of(x: float, currency: str) -> Money:
    return Money(_amount(x), currency)


@dataclass(frozen=True)
class Decision:
    deployment_id: str
    tenant: str
    replica: int
    placed: bool
    impact: Money
    keeps_per_year: Rate
    budget: MoneyRate
    committed_before: MoneyRate
    host_id: str | None = None
    reputation_key: str | None = None
    platform: PlatformLikelihood | None = None
    record_likelihood: Rate | None = None
    likelihood: Rate | None = None
    risk: MoneyRate | None = None
    confidence: float | None = None
    evidence: tuple[float, float, float] | None = None  # (r_V, s, q)
    growth_limit: Money | None = None
    exit_room: Money | None = None
    binding: str | None = None
    refusals: tuple[Refusal, ...] = ()

    @classmethod
    def placed_on(
        cls,
        request: PlacementRequest,
        replica: int,
        budget: MoneyRate,
        committed: MoneyRate,
        host: HostCandidate,
        platform: PlatformLikelihood,
        risk: MoneyRate,
        evidence: tuple[float, float, float],
        caps: tuple[Money, Money],
        confidence: float,
        *,
        placed: bool = True,
        refusals: tuple[Refusal, ...] = (),
    ) -> Decision:
        keeps = request.keeps_per_year.annualised()
        record = Rate(Decimal(repr(evidence[2])) * keeps.value, YEAR)
        remaining = budget - committed
        headroom = {
            "risk budget": _ratio(remaining.amount, risk.amount),
            "growth cap": _ratio(caps[0].amount, request.impact.amount),
            "exit cap": _ratio(caps[1].amount, request.impact.amount),
        }
        return cls(
            deployment_id=request.deployment_id,
            tenant=request.tenant,
            replica=replica,
            placed=placed,
            impact=request.impact,
            keeps_per_year=keeps,
            budget=budget,
            committed_before=committed,
            host_id=host.host_id,
            reputation_key=host.reputation.key,
            platform=platform,
            record_likelihood=record,
            likelihood=platform.rate + record,
            risk=risk,
            confidence=confidence,
            evidence=evidence,
            growth_limit=caps[0],
            exit_room=caps[1],
            binding=min(headroom, key=lambda name: headroom[name]),
            refusals=refusals,
        )

    @classmethod
    def refused(
        cls,
        request: PlacementRequest,
        replica: int,
        budget: MoneyRate,
        committed: MoneyRate,
        refusals: list[Refusal],
    ) -> Decision:
        return cls(
            deployment_id=request.deployment_id,
            tenant=request.tenant,
            replica=replica,
            placed=False,
            impact=request.impact,
            keeps_per_year=request.keeps_per_year.annualised(),
            budget=budget,
            committed_before=committed,
            refusals=tuple(refusals),
        )

    @property
    def summary(self) -> str:
        if self.placed:
            return f"placed on {self.host_id}: risk {self.risk} (budget {self.budget})"
        reasons = "; ".join(str(r) for r in self.refusals) or "no reason recorded"
        return f"refused because {reasons}"

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "schema": SCHEMA,
            "deployment": self.deployment_id,
            "tenant": self.tenant,
            "replica": self.replica,
            "decision": "placed" if self.placed else "refused",
            "host_id": self.host_id,
            "reputation_key": self.reputation_key,
            "impact": self.impact.to_json(),
            "keeps_per_year": self.keeps_per_year.to_json(),
            "budget": self.budget.to_json(),
            "committed_before": self.committed_before.to_json(),
            "refusals": [r.to_json() for r in self.refusals],
        }
        if self.platform is not None and self.evidence is not None:
            assert self.likelihood is not None and self.record_likelihood is not None
            assert self.risk is not None and self.growth_limit is not None
            assert self.exit_room is not None
            r, s, q = self.evidence
            doc["likelihood"] = {
                "total": self.likelihood.to_json(),
                "platform": self.platform.to_json(),
                "record": self.record_likelihood.to_json(),
            }
            doc["bound"] = {
                "kind": "upper credible bound on failure probability per keep",
                "distribution": "Beta(s + 1, r + 1)",
                "confidence": self.confidence,
                "r": r,
                "s": s,
                "q": q,
            }
            doc["risk"] = self.risk.to_json()
            doc["caps"] = {
                "growth_limit": self.growth_limit.to_json(),
                "exit_room": self.exit_room.to_json(),
                "binding": self.binding,
            }
        return doc


def _ratio(room: Decimal, need: Decimal) -> float:
    if need <= 0:
        return math.inf
    return float(room / need)
