"""What risk placement weighs: a host policy accepted (`HostCandidate`) and a deployment's
request for replicas (`PlacementRequest`). Read by the engine (placement.py) and by the
records of its decisions (records.py), so it imports neither."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from elsewhere.claims import Claims
from elsewhere.errors import InputError
from elsewhere.risk.baserates import PlatformSummary
from elsewhere.risk.quantities import YEAR, Money, MoneyRate, Rate
from elsewhere.risk.reputation import ReputationBook, ReputationSnapshot


@dataclass(frozen=True)
class HostCandidate:
    """A host policy accepted, with what placement needs to weigh it."""

    host_id: str
    platform: PlatformSummary
    reputation: ReputationSnapshot
    collateral: Money | None = None  # posted by the operator of this key
    outstanding: Money | None = None  # value already placed on this key

    @classmethod
    def from_claims(
        cls,
        host_id: str,
        claims: Claims,
        book: ReputationBook,
        at: dt.datetime,
        *,
        collateral: Money | None = None,
        outstanding: Money | None = None,
    ) -> HostCandidate:
        """From verified claims and the reputation book (keyed by chip id when there is one)."""
        snapshot = book.snapshot(book.key_for(host_id, claims.chip_id), at)
        return cls(host_id, PlatformSummary.from_claims(claims), snapshot, collateral, outstanding)


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
        if not Decimal("1e-6") <= self.impact.amount <= Decimal("1e15"):
            raise InputError(
                "placement", self.deployment_id, "impact must be between 1e-6 and 1e15"
            )
