"""Placement: give pending replicas to live hosts; take them back from hosts that vanish.

`schedule` picks, for each pending placement, among active hosts that are not excluded for its
deployment (refused at attestation under the current policy, or draining), the one with the
fewest replicas of the same deployment, then the lowest risk (`rank` hook: the risk module's
platform likelihood), then the lowest load per unit of capacity. A host's last verified claims, if
any, must satisfy the deployment's policy (`eligible` hook) — the keep is still attested before
any secret is released, this only avoids sending work where it would be refused anyway.
`reap` marks hosts without a heartbeat for `timeout` as lost and re-queues their keeps.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy.engine import Connection

from elsewhere.control.store.tables import decisions, deployments, hosts, placements, policies
from elsewhere.control.trust import reputation
from elsewhere.timeutil import utcnow

LIVE_STATES = ("assigned", "released")
# Decisions that keep a host out of a deployment (under the policy they were made with).
EXCLUDING_ACTIONS = ("refuse", "evict", "drain")


@dataclass(frozen=True)
class HostView:
    id: str
    name: str
    capacity: int
    last_claims: str | None


# eligible(host, policy_document) -> None if fine, else a one-line reason
Eligible = Callable[[HostView, str], str | None]
Rank = Callable[[HostView], float]
# assign(conn, deployment id, its pending rows, the hosts policy accepts) -> assigned pairs;
# it decides, updates the placement rows and logs them (control/scheduling/assign.py)
Assign = Callable[[Connection, str, Sequence[Any], Sequence[HostView]], list[tuple[str, str]]]


def active_hosts(conn: Connection, now: dt.datetime, timeout: dt.timedelta) -> list[HostView]:
    rows = conn.execute(
        select(hosts.c.id, hosts.c.name, hosts.c.capacity, hosts.c.last_claims).where(
            hosts.c.state == "active", hosts.c.last_seen > now - timeout
        )
    ).all()
    return [HostView(r.id, r.name, r.capacity, r.last_claims) for r in rows]


def schedule(
    conn: Connection,
    timeout: dt.timedelta,
    *,
    eligible: Eligible | None = None,
    rank: Rank | None = None,
    assign: Assign | None = None,
) -> list[tuple[str, str]]:
    """Assign pending placements; returns (placement id, host id) pairs assigned. With
    `assign`, each deployment's pending replicas go to it at once, with the accepted hosts."""
    now = utcnow()
    pending = conn.execute(
        select(
            placements.c.id,
            placements.c.deployment_id,
            placements.c.note,
            policies.c.digest.label("policy_digest"),
            policies.c.document.label("policy_document"),
        )
        .join(deployments, deployments.c.id == placements.c.deployment_id)
        .join(policies, policies.c.id == deployments.c.policy_id)
        .where(placements.c.state == "pending", deployments.c.state == "active")
        .order_by(placements.c.updated_at, placements.c.replica)
    ).all()
    if not pending:
        return []
    live = active_hosts(conn, now, timeout)
    load = Counter(
        conn.execute(
            select(placements.c.host_id).where(placements.c.state.in_(LIVE_STATES))
        ).scalars()
    )
    per_deployment: Counter[tuple[str, str]] = Counter(
        (r.deployment_id, r.host_id)
        for r in conn.execute(
            select(placements.c.deployment_id, placements.c.host_id).where(
                placements.c.state.in_(LIVE_STATES)
            )
        )
    )
    risk = {h.id: rank(h) for h in live} if rank else {}
    assigned: list[tuple[str, str]] = []
    done: set[str] = set()
    for row in pending:
        if assign is not None and row.deployment_id in done:
            continue
        excluded = set(
            conn.execute(
                select(decisions.c.host_id).where(
                    decisions.c.deployment_id == row.deployment_id,
                    decisions.c.policy_digest == row.policy_digest,
                    decisions.c.action.in_(EXCLUDING_ACTIONS),
                )
            ).scalars()
        )
        reasons: list[str] = []
        candidates = []
        for host in live:
            if host.id in excluded:
                continue
            why = eligible(host, row.policy_document) if eligible else None
            if why:
                reasons.append(f"{host.name}: {why}")
                continue
            candidates.append(host)
        if not candidates:
            why = "no eligible host"
            if reasons:
                why += " (" + "; ".join(reasons)[:400] + ")"
            conn.execute(
                update(placements)
                .where(placements.c.id == row.id)
                .values(note=waiting_note(row.note, why))
            )
            continue
        if assign is not None:
            done.add(row.deployment_id)
            rows = [p for p in pending if p.deployment_id == row.deployment_id]
            assigned.extend(assign(conn, row.deployment_id, rows, candidates))
            continue
        best = min(
            candidates,
            key=lambda h: (
                per_deployment[(row.deployment_id, h.id)],
                risk.get(h.id, 0.0),
                load[h.id] / max(h.capacity, 1),
                h.name,
            ),
        )
        conn.execute(
            update(placements)
            .where(placements.c.id == row.id, placements.c.state == "pending")
            .values(host_id=best.id, state="assigned", note=None, updated_at=now)
        )
        load[best.id] += 1
        per_deployment[(row.deployment_id, best.id)] += 1
        assigned.append((row.id, best.id))
    return assigned


def waiting_note(previous: str | None, why: str) -> str:
    """'waiting: why', keeping the cause of the re-queue (evicted, refused, host lost) in front:
    a tenant must still see why a replica moved while it waits for another host."""
    cause = (previous or "").split(WAITING_SEPARATOR)[0]
    if not cause or cause.startswith("waiting: "):
        return f"waiting: {why}"[:500]
    return f"{cause[:240]}{WAITING_SEPARATOR}{why}"[:500]


WAITING_SEPARATOR = " | waiting: "


def requeue(conn: Connection, placement_id: str, note: str) -> None:
    """Send a placement back to the queue (another host will be chosen)."""
    conn.execute(
        update(placements)
        .where(placements.c.id == placement_id)
        .values(
            state="pending",
            host_id=None,
            attempt=placements.c.attempt + 1,
            keep_key_digest=None,
            drain_deadline=None,
            note=note[:500],
            updated_at=utcnow(),
        )
    )


def reap(conn: Connection, timeout: dt.timedelta) -> list[str]:
    """Mark silent hosts lost and re-queue their live placements; returns the lost host ids."""
    now = utcnow()
    lost = conn.execute(
        select(hosts.c.id, hosts.c.name).where(
            hosts.c.state == "active", hosts.c.last_seen <= now - timeout
        )
    ).all()
    for host in lost:
        conn.execute(update(hosts).where(hosts.c.id == host.id).values(state="lost"))
        stranded = conn.execute(
            select(placements.c.id, placements.c.state).where(
                and_(placements.c.host_id == host.id, placements.c.state.in_(LIVE_STATES))
            )
        ).all()
        reputation.record_lost(conn, host.id, [p.id for p in stranded if p.state == "released"])
        for placement_id in [p.id for p in stranded]:
            requeue(
                conn,
                placement_id,
                f"rescheduled: host {host.name} lost (no heartbeat for "
                f"{int(timeout.total_seconds())} s)",
            )
    return [h.id for h in lost]


def expire_drains(conn: Connection) -> list[str]:
    """Re-queue keeps whose drain grace period has ended."""
    now = utcnow()
    due = list(
        conn.execute(
            select(placements.c.id).where(
                placements.c.drain_deadline.is_not(None),
                placements.c.drain_deadline <= now,
                placements.c.state.in_(LIVE_STATES),
            )
        ).scalars()
    )
    for placement_id in due:
        requeue(conn, placement_id, "rescheduled: drain period of its host ended")
    return due
