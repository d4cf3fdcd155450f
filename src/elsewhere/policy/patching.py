"""Patching carefully: re-check running placements after a new advisory or policy version.

Pure: the control plane passes the running placements and the new policy / advisories, gets
back the placements whose host is no longer acceptable with what to do (evict now, drain
before a deadline, keep with a warning) and why, and records those decisions itself.

The action comes from the policy's [patching] table: each refusal reason is mapped to an
action by its advisory severity, or by the `other` entry when the reason is not an advisory
(the new policy refuses the generation, raises a minimum TCB, ...). The strictest action over
all reasons wins: evict over drain over keep, and of two drains the shorter grace period.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from elsewhere.claims import Claims
from elsewhere.policy.advisories import AdvisorySet
from elsewhere.policy.evaluate import EMPTY_ADVISORIES, RuleFailure, compile_policy
from elsewhere.policy.model import OTHER, Action, PatchRule, Policy
from elsewhere.timeutil import iso

_STRICTNESS = {Action.KEEP: 0, Action.DRAIN: 1, Action.EVICT: 2}


@dataclass(frozen=True)
class Placement:
    """A keep running on a host, admitted on `claims` under policy `admitted_policy_digest`."""

    placement_id: str
    host_id: str
    claims: Claims
    admitted_policy_digest: str
    admitted_at: dt.datetime


@dataclass(frozen=True)
class PatchDecision:
    """What to do with one placement whose host the new policy / advisories refuse."""

    placement_id: str
    host_id: str
    action: Action
    deadline: dt.datetime | None  # evict: now; drain: now + grace; keep: None
    reasons: tuple[RuleFailure, ...]
    policy_digest: str  # the policy the re-check ran under
    admitted_policy_digest: str

    def to_json(self) -> dict[str, Any]:
        return {
            "placement_id": self.placement_id,
            "host_id": self.host_id,
            "action": self.action.value,
            "deadline": None if self.deadline is None else iso(self.deadline),
            "reasons": [r.to_json() for r in self.reasons],
            "policy_digest": self.policy_digest,
            "admitted_policy_digest": self.admitted_policy_digest,
        }


def _stricter(a: PatchRule, b: PatchRule) -> PatchRule:
    if _STRICTNESS[a.action] != _STRICTNESS[b.action]:
        return a if _STRICTNESS[a.action] > _STRICTNESS[b.action] else b
    return a if a.grace <= b.grace else b


def action_for(policy: Policy, reasons: Iterable[RuleFailure]) -> PatchRule:
    """The strictest [patching] rule over the reasons (at least one reason is expected)."""
    chosen: PatchRule | None = None
    for reason in reasons:
        rule = policy.patch_rule(reason.severity or OTHER)
        chosen = rule if chosen is None else _stricter(chosen, rule)
    if chosen is None:
        raise ValueError("action_for needs at least one reason")
    return chosen


def recheck(
    placements: Iterable[Placement],
    policy: Policy,
    *,
    at: dt.datetime,
    advisories: AdvisorySet = EMPTY_ADVISORIES,
) -> tuple[PatchDecision, ...]:
    """Re-evaluate each placement's admission claims; return only those now refused.

    The report_data binding and the evidence age are not re-checked: they held when the keep
    was admitted and do not change while it runs.
    """
    evaluator = compile_policy(policy, advisories)
    out = []
    for placement in placements:
        decision = evaluator.evaluate(placement.claims, at=at, admission=False)
        if decision.accepted:
            continue
        rule = action_for(policy, decision.reasons)
        deadline = None if rule.action is Action.KEEP else at + rule.grace
        out.append(
            PatchDecision(
                placement_id=placement.placement_id,
                host_id=placement.host_id,
                action=rule.action,
                deadline=deadline,
                reasons=decision.reasons,
                policy_digest=decision.policy_digest,
                admitted_policy_digest=placement.admitted_policy_digest,
            )
        )
    return tuple(out)
