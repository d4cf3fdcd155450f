"""Scheduling hooks: policy eligibility from a host's last verified claims, and risk rank.

The rank is the risk module's platform likelihood (expected compromises per year, from its
base-rate table) of the host's last verified platform; a host that never attested ranks as
unprotected. The control plane's maintenance places by the full risk engine instead
(control/scheduling/assign.py: reputation, impact, budgets, caps); the rank serves
`schedule` callers that pass no `assign` hook.
"""

from __future__ import annotations

import functools
import json

from elsewhere.claims import Claims
from elsewhere.control.scheduling.scheduler import Eligible, HostView, Rank
from elsewhere.control.trust.policies import evaluator
from elsewhere.policy.advisories import AdvisorySet
from elsewhere.risk.baserates import BaseRates, PlatformSummary, load_baserates
from elsewhere.timeutil import utcnow


def eligibility(advisories: AdvisorySet) -> Eligible:
    """A host whose last verified claims the policy refuses is not sent the work again."""
    at = utcnow()

    def check(host: HostView, policy_document: str) -> str | None:
        if host.last_claims is None:
            return None  # never attested: it may try; the key broker decides
        claims = Claims.from_json(json.loads(host.last_claims))
        decision = evaluator(policy_document, advisories).evaluate(claims, at=at, admission=False)
        if decision.accepted:
            return None
        return "refused by policy: " + "; ".join(str(r) for r in decision.reasons[:3])

    return check


@functools.cache
def _baserates() -> BaseRates:
    return load_baserates()


def risk_rank() -> Rank:
    rates = _baserates()

    def rank(host: HostView) -> float:
        if host.last_claims is None:
            return float(rates.unprotected)
        platform = PlatformSummary.from_json(json.loads(host.last_claims), host.name)
        return float(rates.likelihood(platform).rate.annualised().value)

    return rank
