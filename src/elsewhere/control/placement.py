"""Scheduling hooks: policy eligibility from a host's last verified claims, and risk rank."""

from __future__ import annotations

import json

from elsewhere.control.policies import claims_from_json, evaluator
from elsewhere.control.scheduler import Eligible, HostView
from elsewhere.policy.advisories import AdvisorySet
from elsewhere.timeutil import utcnow


def eligibility(advisories: AdvisorySet) -> Eligible:
    """A host whose last verified claims the policy refuses is not sent the work again."""
    at = utcnow()

    def check(host: HostView, policy_document: str) -> str | None:
        if host.last_claims is None:
            return None  # never attested: it may try; the key broker decides
        claims = claims_from_json(json.loads(host.last_claims))
        decision = evaluator(policy_document, advisories).evaluate(claims, at=at, admission=False)
        if decision.accepted:
            return None
        return "refused by policy: " + "; ".join(str(r) for r in decision.reasons[:3])

    return check
