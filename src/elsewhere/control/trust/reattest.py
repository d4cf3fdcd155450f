"""Continuous attestation: what changed between a keep's accepted evidence and its fresh
evidence, which keeps must re-attest, and the eviction of those that miss their deadline.

A running keep re-attests on the schedule its tenant's policy sets (`[reattestation]
interval`) and whenever a re-check asks (`mark_due`): a fresh nonce, the SAME keep key. The
evidence is appraised like the first (control/broker/reattest.py) and compared with the last
accepted: a different keep key or measurement is another keep, a lower TCB component a
rollback; either evicts. A keep that has not re-attested by its deadline (due + the policy's
grace) is evicted by the maintenance round (`expire_overdue`). Every eviction is a decision
row and a ledger entry in the transaction that moved the placement, and only if it moved.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.engine import Connection

from elsewhere.claims import Claims
from elsewhere.control.config import ControlPlane
from elsewhere.control.store.tables import deployments, hosts, placements, policies
from elsewhere.control.trust.recheck import ACCEPTING_ACTIONS, apply_verdict, mark_due
from elsewhere.policy.evaluate import RuleFailure
from elsewhere.policy.model import Action
from elsewhere.policy.patching import PatchDecision
from elsewhere.timeutil import iso, utcnow

__all__ = ["ACCEPTING_ACTIONS", "changes", "due_for", "expire_overdue", "mark_due"]

# Rules whose failure at a re-attestation evicts whatever [patching] says: the evidence does
# not verify, binds something else, or is not the keep that was admitted.
EVICTING_RULES = frozenset({"verification", "binding", "binding.require_report_data"})
KEY_RULE, MEASUREMENT_RULE, ROLLBACK_RULE = (
    "reattest.keep_key",
    "reattest.measurement",
    ("reattest.tcb_rollback"),
)
DEADLINE_RULE = "reattest.deadline"


def evicts(reason: RuleFailure) -> bool:
    return reason.rule.startswith("reattest.") or reason.rule in EVICTING_RULES


def changes(
    previous: Claims, current: Claims, previous_key: str | None, current_key: str
) -> list[RuleFailure]:
    """Why `current` is not the evidence of the keep admitted on `previous`: another keep key,
    a measurement that differs (or appeared, or vanished), a TCB component below the last
    accepted value (or absent). An empty list: the same keep, on a TCB as new or newer."""
    found: list[RuleFailure] = []
    if previous_key is not None and current_key != previous_key:
        found.append(RuleFailure(KEY_RULE, "keep_key", current_key, previous_key))
    for name in sorted(set(previous.measurements) | set(current.measurements)):
        before, now = previous.measurements.get(name), current.measurements.get(name)
        if before != now:
            found.append(
                RuleFailure(
                    MEASUREMENT_RULE, f"measurements.{name}", now or "absent", before or "absent"
                )
            )
    for component, before_tcb in sorted(previous.tcb.items()):
        value = current.tcb.get(component)
        if value is None or value < before_tcb:
            found.append(
                RuleFailure(
                    ROLLBACK_RULE,
                    f"tcb.{component}",
                    "absent" if value is None else str(value),
                    f">= {before_tcb} (last accepted)",
                )
            )
    return found


def missed(deadline: dt.datetime) -> RuleFailure:
    return RuleFailure(
        DEADLINE_RULE, "re-attestation", f"none by {iso(deadline)}", "fresh evidence by then"
    )


def due_for(conn: Connection, host_id: str, now: dt.datetime) -> list[str]:
    """The host's running keeps whose re-attestation is due (the heartbeat's `reattest`)."""
    rows = conn.execute(
        select(placements.c.id).where(
            placements.c.host_id == host_id,
            placements.c.state == "released",
            placements.c.reattest_due <= now,
        )
    ).scalars()
    return sorted(rows)


def expire_overdue(cp: ControlPlane, conn: Connection) -> list[str]:
    """Evict running keeps past their re-attestation deadline; returns those evicted."""
    now = utcnow()
    rows = conn.execute(
        select(
            placements.c.id,
            placements.c.host_id,
            placements.c.deployment_id,
            placements.c.reattest_deadline,
            hosts.c.name.label("host_name"),
            policies.c.digest.label("policy_digest"),
        )
        .join(hosts, hosts.c.id == placements.c.host_id)
        .join(deployments, deployments.c.id == placements.c.deployment_id)
        .join(policies, policies.c.id == deployments.c.policy_id)
        .where(placements.c.state == "released", placements.c.reattest_deadline <= now)
    ).all()
    evicted = []
    for row in rows:
        verdict = PatchDecision(
            placement_id=row.id,
            host_id=row.host_id,
            action=Action.EVICT,
            deadline=now,
            reasons=(missed(row.reattest_deadline),),
            policy_digest=row.policy_digest,
            admitted_policy_digest=row.policy_digest,
        )
        view = KeepRow(row.id, row.host_id, row.host_name, row.deployment_id, None)
        if apply_verdict(cp, conn, verdict, view, kind="reattest") is not None:
            evicted.append(row.id)
    return evicted


@dataclass(frozen=True)
class KeepRow:
    """What `apply_verdict` reads of a placement."""

    id: str
    host_id: str
    host_name: str
    deployment_id: str
    claims: str | None
