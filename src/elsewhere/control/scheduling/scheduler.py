"""Placement: give pending replicas to live hosts; take them back from hosts that vanish.

`schedule` picks, for each pending placement, among active hosts that are not excluded for its
deployment (refused at attestation under the current policy, or draining), the one with the
fewest replicas of the same deployment, then the lowest risk (`rank` hook: the risk module's
platform likelihood), then the lowest load per unit of capacity. A host's last verified claims, if
any, must satisfy the deployment's policy (`eligible` hook) — the keep is still attested before
any secret is released, this only avoids sending work where it would be refused anyway.
`reap` marks hosts without a heartbeat for `timeout` as lost and re-queues their keeps.

Passes never overlap: `serialise` holds one lock for the pass's transaction (PostgreSQL: a
transaction-level advisory lock; SQLite: the write transaction is already exclusive, BEGIN
IMMEDIATE, and every read of the pass is inside it). Each state change is a conditional UPDATE
and only a change that matched its row counts (is logged, adds load or committed risk): a
placement a request stopped meanwhile, or a keep that completed, is left as it is.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.engine import Connection

from elsewhere.control.store.tables import decisions, deployments, hosts, placements, policies
from elsewhere.control.trust import reputation
from elsewhere.timeutil import utcnow

LIVE_STATES = ("assigned", "released")
# Decisions that keep a host out of a deployment (under the policy they were made with).
EXCLUDING_ACTIONS = ("refuse", "evict", "drain")
# The key of the PostgreSQL advisory lock that one scheduling pass holds at a time.
SCHEDULER_LOCK = 0x656C7365_0001  # "else", 1


def serialise(conn: Connection) -> None:
    """Wait until no other scheduling pass runs, and keep others out until `conn`'s transaction
    ends. Taking it twice in one transaction is fine (PostgreSQL counts it; released at the
    end). On SQLite `write()` already admits one writer at a time."""
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_advisory_xact_lock(SCHEDULER_LOCK)))


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


def active_hosts(
    conn: Connection, now: dt.datetime, timeout: dt.timedelta, refusal_limit: int | None = None
) -> list[HostView]:
    """Hosts heard from within `timeout`; with `refusal_limit`, not those that reported that
    many attestations in a row they could not make (broker/refusals.py)."""
    where = [hosts.c.state == "active", hosts.c.last_seen > now - timeout]
    if refusal_limit is not None:
        where.append(hosts.c.attest_refusals < refusal_limit)
    rows = conn.execute(
        select(hosts.c.id, hosts.c.name, hosts.c.capacity, hosts.c.last_claims).where(*where)
    ).all()
    return [HostView(r.id, r.name, r.capacity, r.last_claims) for r in rows]


def schedule(
    conn: Connection,
    timeout: dt.timedelta,
    *,
    eligible: Eligible | None = None,
    rank: Rank | None = None,
    assign: Assign | None = None,
    refusal_limit: int | None = None,
) -> list[tuple[str, str]]:
    """Assign pending placements; returns (placement id, host id) pairs assigned. With
    `assign`, each deployment's pending replicas go to it at once, with the accepted hosts."""
    serialise(conn)
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
    live = active_hosts(conn, now, timeout, refusal_limit)
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
        if not take(conn, row.id, values={"host_id": best.id, "note": None, "updated_at": now}):
            continue  # no longer pending (stopped meanwhile): nothing happened
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


def take(conn: Connection, placement_id: str, *, values: dict[str, Any]) -> bool:
    """Move a pending placement to `assigned` with `values`; False if it was not pending any
    more (then nothing changed, and nothing may be logged or counted for it)."""
    moved = conn.execute(
        update(placements)
        .where(placements.c.id == placement_id, placements.c.state == "pending")
        .values(state="assigned", **values)
    )
    return moved.rowcount == 1


def requeue(conn: Connection, placement_id: str, note: str, *, host_id: str | None = None) -> bool:
    """Send a live placement (on `host_id`, if given) back to the queue (another host will be
    chosen); False if it was not live there any more (completed, stopped, re-queued, moved):
    then nothing changed."""
    live = [placements.c.id == placement_id, placements.c.state.in_(LIVE_STATES)]
    if host_id is not None:
        live.append(placements.c.host_id == host_id)
    moved = conn.execute(
        update(placements)
        .where(*live)
        .values(
            state="pending",
            host_id=None,
            attempt=placements.c.attempt + 1,
            keep_key_digest=None,
            drain_deadline=None,
            # a keep attests afresh wherever it runs next
            attested_at=None,
            reattest_due=None,
            reattest_deadline=None,
            note=note[:500],
            updated_at=utcnow(),
        )
    )
    return moved.rowcount == 1


def reap(conn: Connection, timeout: dt.timedelta) -> list[str]:
    """Mark silent hosts lost and re-queue their live placements; returns the lost host ids."""
    now = utcnow()
    lost = conn.execute(
        select(hosts.c.id, hosts.c.name).where(
            hosts.c.state == "active", hosts.c.last_seen <= now - timeout
        )
    ).all()
    reaped = []
    for host in lost:
        marked = conn.execute(
            update(hosts)
            .where(
                hosts.c.id == host.id,
                hosts.c.state == "active",
                hosts.c.last_seen <= now - timeout,  # not if a heartbeat just came in
            )
            .values(state="lost")
        )
        if marked.rowcount != 1:
            continue
        reaped.append(host.id)
        stranded = conn.execute(
            select(placements.c.id, placements.c.state).where(
                and_(placements.c.host_id == host.id, placements.c.state.in_(LIVE_STATES))
            )
        ).all()
        note = (
            f"rescheduled: host {host.name} lost (no heartbeat for "
            f"{int(timeout.total_seconds())} s)"
        )
        moved = [p for p in stranded if requeue(conn, p.id, note, host_id=host.id)]
        reputation.record_lost(conn, host.id, [p.id for p in moved if p.state == "released"])
    return reaped


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
    note = "rescheduled: drain period of its host ended"
    return [placement_id for placement_id in due if requeue(conn, placement_id, note)]
