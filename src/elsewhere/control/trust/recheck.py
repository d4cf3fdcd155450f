"""Advisories and policy versions in operation: re-check running keeps and act.

A new policy version or an advisory feed is stored, logged in the ledger and applied in ONE
transaction: every running keep (a released placement) the change affects is re-evaluated on
the claims it was admitted on (policy.patching.recheck), and each verdict is carried out —
evict (back to the queue now, the host excluded), drain (no new work there; moved when the
grace period ends), keep (a warning) — and recorded as a decision and a ledger entry.

The keeps the change concerns and that keep running are then asked to re-attest with fresh
evidence (`mark_due`; control/trust/reattest.py): after a policy version, every running keep of
the tenant (its binding named the old policy's digest); after an advisory import, the keeps
whose claims an imported advisory applies to.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import case, select, update
from sqlalchemy.engine import Connection

from elsewhere.claims import Claims
from elsewhere.control.config import ControlPlane
from elsewhere.control.scheduling import scheduler
from elsewhere.control.store.ids import new_id
from elsewhere.control.store.tables import decisions, deployments, hosts, placements, policies
from elsewhere.control.store.transactions import write
from elsewhere.control.trust import audit
from elsewhere.control.trust.policies import (
    current_advisories,
    current_policy,
    import_feed,
    parse_cached,
    store_policy,
)
from elsewhere.i18n import N_
from elsewhere.policy.advisories import AdvisorySet
from elsewhere.policy.model import Action
from elsewhere.policy.patching import PatchDecision, Placement, recheck
from elsewhere.timeutil import iso, utcnow

# Decisions whose claims a running keep was last accepted on (`_running` reads the latest).
ACCEPTING_ACTIONS = ("release", "reattest")


def set_policy(cp: ControlPlane, tenant_id: str, document: str) -> dict[str, Any]:
    with write(cp.engine) as conn:
        previous = current_policy(conn, tenant_id)
        stored = store_policy(conn, tenant_id, document)
        if stored["unchanged"]:
            return _policy_view(stored, [], None, [])
        index = audit.record_policy(
            cp.ledger,
            conn,
            tenant_id,
            stored["version"],
            stored["digest"],
            previous["digest"] if previous else None,
        )
        conn.execute(
            update(deployments)
            .where(deployments.c.tenant_id == tenant_id, deployments.c.state == "active")
            .values(policy_id=stored["id"])
        )
        actions, due = _recheck(cp, conn, current_advisories(conn), tenant_id=tenant_id)
    return _policy_view(stored, actions, index, due)


def _policy_view(
    stored: dict[str, Any], actions: list[dict[str, Any]], index: int | None, due: list[str]
) -> dict[str, Any]:
    return {
        "version": stored["version"],
        "digest": stored["digest"],
        "unchanged": stored["unchanged"],
        "ledger_index": index,
        "recheck": actions,
        "reattest": due,  # the running keeps asked to re-attest
    }


def import_advisories(cp: ControlPlane, body: bytes, source: str) -> dict[str, Any]:
    text = body.decode("utf-8", errors="replace")
    with write(cp.engine) as conn:
        feed = import_feed(conn, text, source)
        ids = [a.id for a in feed.advisories]
        index = audit.record_advisories(cp.ledger, conn, source, body, ids)
        actions, due = _recheck(cp, conn, current_advisories(conn), imported=set(ids))
    return {"imported": ids, "ledger_index": index, "recheck": actions, "reattest": due}


def _running(conn: Connection, tenant_id: str | None) -> list[Any]:
    """Released placements with the claims, policy and time they were admitted on."""
    query = (
        select(
            placements.c.id,
            placements.c.host_id,
            placements.c.deployment_id,
            hosts.c.name.label("host_name"),
            policies.c.document,
            decisions.c.claims,
            decisions.c.policy_digest.label("admitted_digest"),
            decisions.c.created_at.label("admitted_at"),
        )
        .join(deployments, deployments.c.id == placements.c.deployment_id)
        .join(policies, policies.c.id == deployments.c.policy_id)
        .join(hosts, hosts.c.id == placements.c.host_id)
        .join(
            decisions,
            (decisions.c.placement_id == placements.c.id)
            & (decisions.c.host_id == placements.c.host_id)
            & decisions.c.action.in_(ACCEPTING_ACTIONS),
        )
        .where(placements.c.state == "released")
        .order_by(decisions.c.created_at)
    )
    if tenant_id is not None:
        query = query.where(deployments.c.tenant_id == tenant_id)
    latest: dict[str, Any] = {}
    for row in conn.execute(query):
        latest[row.id] = row  # the last accepted evidence of each placement wins
    return list(latest.values())


def _recheck(
    cp: ControlPlane,
    conn: Connection,
    advisories: AdvisorySet,
    tenant_id: str | None = None,
    imported: set[str] | None = None,
) -> tuple[list[dict[str, Any]], list[str]]:
    """The actions taken, and the placements asked to re-attest: every one still running
    after a policy change (`imported` None), those an imported advisory applies to else."""
    rows = _running(conn, tenant_id)
    by_document: dict[str, list[Any]] = {}
    for row in rows:
        by_document.setdefault(row.document, []).append(row)
    now = utcnow()
    actions: list[dict[str, Any]] = []
    due: list[str] = []
    for document, group in by_document.items():
        info = {row.id: row for row in group}
        claims = {row.id: Claims.from_json(json.loads(row.claims)) for row in group}
        verdicts = recheck(
            [
                Placement(
                    placement_id=row.id,
                    host_id=row.host_id,
                    claims=claims[row.id],
                    admitted_policy_digest=row.admitted_digest,
                    admitted_at=row.admitted_at,
                )
                for row in group
            ],
            parse_cached(document),
            at=now,
            advisories=advisories,
        )
        for verdict in verdicts:
            done = apply_verdict(cp, conn, verdict, info[verdict.placement_id])
            if done is not None:
                actions.append(done)
        # A keep acted on (evicted, drained, warned about) is decided already; the others the
        # change concerns must show fresh evidence.
        decided = {verdict.placement_id for verdict in verdicts}
        asked = [
            row.id
            for row in group
            if row.id not in decided
            and (imported is None or imported & set(advisories.affecting(claims[row.id])))
        ]
        due += mark_due(conn, asked, now, parse_cached(document).reattest_grace)
    return actions, due


def _still_running(conn: Connection, row: Any) -> bool:
    """Whether the keep still runs there, holding its row until the warning commits."""
    found = conn.execute(
        select(placements.c.id)
        .where(
            placements.c.id == row.id,
            placements.c.host_id == row.host_id,
            placements.c.state == "released",
        )
        .with_for_update()
    ).first()
    return found is not None


def apply_verdict(
    cp: ControlPlane, conn: Connection, verdict: PatchDecision, row: Any, kind: str = "recheck"
) -> dict[str, Any] | None:
    """Carry out one verdict; None when the keep is no longer running (nothing done). `row`:
    id, host_id, host_name, deployment_id and the claims (JSON) the verdict was made on;
    `kind` the decision's (a re-check, or a re-attestation: control/trust/reattest.py)."""
    reasons = [str(r) for r in verdict.reasons]
    reason = "; ".join(reasons)[:400]
    advisory_ids = sorted({r.found.split(" ")[0] for r in verdict.reasons if r.severity})
    action = {Action.EVICT: "evict", Action.DRAIN: "drain", Action.KEEP: "warn"}[verdict.action]
    # An eviction or drain is logged only if it happened: the keep may have completed (or been
    # evicted by a concurrent re-check) since it was read.
    if verdict.action is Action.EVICT:
        note = N_("evicted from {host}: {reason}").format(host=row.host_name, reason=reason)
        if not scheduler.requeue(conn, row.id, note, host_id=row.host_id):
            return None
    elif verdict.action is Action.DRAIN:
        drained = conn.execute(
            update(placements)
            .where(
                placements.c.id == row.id,
                placements.c.host_id == row.host_id,
                placements.c.state == "released",
            )
            .values(
                # a drain already running is never extended (a later, laxer verdict)
                drain_deadline=case(
                    (placements.c.drain_deadline.is_(None), verdict.deadline),
                    (placements.c.drain_deadline > verdict.deadline, verdict.deadline),
                    else_=placements.c.drain_deadline,
                ),
                note=N_("draining {host}: {reason}").format(host=row.host_name, reason=reason),
            )
        )
        if drained.rowcount != 1:
            return None
    elif not _still_running(conn, row):
        return None  # no warning about a keep that has ended
    if verdict.action is Action.KEEP:
        index = audit.record_warning(
            cp.ledger, conn, row.host_name, reason, [row.deployment_id], advisory_ids
        )
    else:
        index = audit.record_eviction(
            cp.ledger, conn, row.host_name, action, reason, [row.deployment_id], advisory_ids
        )
    conn.execute(
        decisions.insert().values(
            id=new_id("dec"),
            placement_id=row.id,
            deployment_id=row.deployment_id,
            host_id=row.host_id,
            kind=kind,
            verdict="contraindicated",
            action=action,
            reasons=json.dumps(reasons),
            claims=row.claims,
            policy_digest=verdict.policy_digest,
            ledger_index=index,
            created_at=utcnow(),
        )
    )
    return {
        "placement": row.id,
        "host": row.host_name,
        "action": action,
        "deadline": None if verdict.deadline is None else iso(verdict.deadline),
        "reasons": reasons,
        "ledger_index": index,
    }


def mark_due(
    conn: Connection, placement_ids: list[str], now: dt.datetime, grace: dt.timedelta
) -> list[str]:
    """Ask running keeps to re-attest now: due now, deadline now + grace (an earlier due or
    deadline already set stays). Returns the placements marked (still running)."""
    if not placement_ids:
        return []
    deadline = now + grace
    conn.execute(
        update(placements)
        .where(placements.c.id.in_(list(placement_ids)), placements.c.state == "released")
        .values(
            reattest_due=case(
                (placements.c.reattest_due.is_(None), now),
                (placements.c.reattest_due > now, now),
                else_=placements.c.reattest_due,
            ),
            reattest_deadline=case(
                (placements.c.reattest_deadline.is_(None), deadline),
                (placements.c.reattest_deadline > deadline, deadline),
                else_=placements.c.reattest_deadline,
            ),
        )
    )
    marked = conn.execute(
        select(placements.c.id).where(
            placements.c.id.in_(list(placement_ids)), placements.c.state == "released"
        )
    ).scalars()
    return sorted(marked)
