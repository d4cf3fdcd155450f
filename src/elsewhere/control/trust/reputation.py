"""Host reputation from real events, persisted in one append-only table.

Rows are written where things happen: an attestation observation (in the release transaction),
a missed heartbeat and keeps lost (when the scheduler reaps a silent host), a completed keep
weighted by its value (when its result arrives), a tenant's report, an operator's release of a
quarantine. The `ReputationBook` of elsewhere.risk is a fold of the rows in id order (TCB
rollback, measurement churn and the CUSUM quarantine are derived by `observe_attestation` and
`record` while folding), so the quarantine state is as durable as the rows. The book is cached
per process and caught up with committed rows before each use.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.engine import Connection

from elsewhere.claims import VerificationResult
from elsewhere.control.store.tables import deployments, hosts, placements, reputation_events
from elsewhere.control.store.transactions import read
from elsewhere.errors import Conflict, ElsewhereError, NotFound
from elsewhere.evidence.anchors import is_untrusted_emulated
from elsewhere.i18n import N_
from elsewhere.risk.quantities import Money
from elsewhere.risk.reputation import (
    Event,
    EventKind,
    ReputationBook,
    ReputationSnapshot,
    reputation_key,
)
from elsewhere.timeutil import utcnow

log = logging.getLogger("elsewhere.control")

# Refusals held against the host: its evidence failed verification or did not bind the keep.
# A verified platform that the tenant's policy does not want (Milan, nil) is not misbehaviour.
HOST_FAULT_RULES = frozenset({"verification", "binding"})
ATTESTATION, RELEASE = "attestation", "release"
INSERT = reputation_events.insert()  # deferred to the end of a commit batch
# Rows committed out of id order (concurrent transactions) are caught by re-reading a window.
_WINDOW = 256


def observation(
    host_id: str, result: VerificationResult, accepted: bool, reasons: Sequence[str]
) -> dict[str, Any]:
    """The row for one attestation (`reasons` as "rule: ..." lines). Only verified evidence
    names a chip, a TCB or measurements (unverified bytes could name another host's chip)."""
    claims, verified = result.claims, result.verified
    chip = claims.chip_id if verified else None
    rules = {reason.split(":", 1)[0] for reason in reasons}
    # An emulated root this control plane was not given is its operator's configuration,
    # not the host's bad evidence: that refusal alone is not held against the host.
    missing_root = (
        not verified
        and bool(result.failures)
        and all(is_untrusted_emulated(f.found) for f in result.failures)
    )
    faults = rules & (HOST_FAULT_RULES - {"verification"} if missing_root else HOST_FAULT_RULES)
    host_fault = not accepted and ((not verified and not missing_root) or bool(faults))
    detail = {
        "accepted": not host_fault,
        "chip": chip,
        "tcb": dict(claims.tcb) if verified else {},
        "measurements": dict(claims.measurements) if verified else {},
    }
    return {
        "key": reputation_key(host_id, chip),
        "host_id": host_id,
        "kind": ATTESTATION,
        "at": utcnow(),
        "detail": json.dumps(detail, sort_keys=True),
    }


def key_of_host(conn: Connection, host_id: str) -> str:
    """The host's key from its last verified claims (chip id when there is one)."""
    last = conn.execute(select(hosts.c.last_claims).where(hosts.c.id == host_id)).scalar()
    chip = json.loads(last).get("chip_id") if last else None
    return reputation_key(host_id, chip)


def record(
    conn: Connection,
    host_id: str,
    kind: EventKind | str,
    *,
    value: Money | None = None,
    placement_id: str | None = None,
    note: str = "",
    key: str | None = None,
) -> None:
    conn.execute(
        INSERT,
        [
            {
                "key": key or key_of_host(conn, host_id),
                "host_id": host_id,
                "kind": str(kind),
                "at": utcnow(),
                "amount": None if value is None else str(value.amount),
                "currency": None if value is None else value.currency,
                "placement_id": placement_id,
                "detail": json.dumps({"note": note}) if note else None,
            }
        ],
    )


def record_lost(conn: Connection, host_id: str, released: Iterable[str]) -> None:
    """A silent host: one missed heartbeat, and a lost keep per released placement."""
    key = key_of_host(conn, host_id)
    record(conn, host_id, EventKind.HEARTBEAT_MISSED, key=key)
    for placement_id in released:
        record(conn, host_id, EventKind.KEEP_LOST, placement_id=placement_id, key=key)


def reported(conn: Connection, placement_id: str) -> bool:
    count = conn.execute(
        select(func.count())
        .select_from(reputation_events)
        .where(
            reputation_events.c.placement_id == placement_id,
            reputation_events.c.kind == EventKind.TENANT_REPORT.value,
        )
    ).scalar_one()
    return bool(count)


@dataclass
class ReputationCache:
    book: ReputationBook = field(default_factory=ReputationBook)
    last_id: int = 0
    applied: set[int] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _apply(book: ReputationBook, row: Any) -> None:
    detail = json.loads(row.detail) if row.detail else {}
    if row.kind == ATTESTATION:
        book.observe_attestation(
            row.host_id,
            detail.get("chip"),
            row.at,
            tcb=detail.get("tcb") or None,
            measurements=detail.get("measurements") or None,
            accepted=bool(detail.get("accepted", True)),
        )
    elif row.kind == RELEASE:
        book.release(row.key)
    else:
        value = None if row.amount is None else Money(Decimal(row.amount), row.currency)
        book.record(row.key, Event(EventKind(row.kind), row.at, value, detail.get("note", "")))


def current_book(engine: Engine, cache: ReputationCache) -> ReputationBook:
    """The process's book, caught up with every committed row (read on its own connection,
    so rows of a transaction that later rolls back are never folded in)."""
    with cache.lock:
        with read(engine) as conn:
            rows = conn.execute(
                select(reputation_events)
                .where(reputation_events.c.id > cache.last_id - _WINDOW)
                .order_by(reputation_events.c.id)
            ).all()
        for row in rows:
            if row.id in cache.applied:
                continue
            try:
                _apply(cache.book, row)
            except (ElsewhereError, ValueError) as error:  # one bad row must not stop placement
                log.error("reputation row %s skipped: %s", row.id, type(error).__name__)
            cache.applied.add(row.id)
            cache.last_id = max(cache.last_id, row.id)
        return cache.book


# Events a tenant's own keeps produce; the rest (refusals, rollbacks, churn, lost keeps, missed
# heartbeats) are the host's own conduct and are shown to every tenant it is offered to.
_TENANT_KINDS = frozenset({EventKind.KEEP_COMPLETED, EventKind.TENANT_REPORT})


def own_events(conn: Connection, tenant_id: str) -> dict[str, list[Event]]:
    """The completed keeps and reports of this tenant's own placements, by reputation key:
    one query for every host a risk document lists."""
    rows = conn.execute(
        select(
            reputation_events.c.key,
            reputation_events.c.kind,
            reputation_events.c.at,
            reputation_events.c.amount,
            reputation_events.c.currency,
            reputation_events.c.detail,
        )
        .join(placements, placements.c.id == reputation_events.c.placement_id)
        .join(deployments, deployments.c.id == placements.c.deployment_id)
        .where(
            deployments.c.tenant_id == tenant_id,
            reputation_events.c.kind.in_([k.value for k in _TENANT_KINDS]),
        )
        .order_by(reputation_events.c.id)
    ).all()
    by_key: dict[str, list[Event]] = {}
    for row in rows:
        by_key.setdefault(row.key, []).append(
            Event(
                EventKind(row.kind),
                row.at,
                None if row.amount is None else Money(Decimal(row.amount), row.currency),
                json.loads(row.detail).get("note", "") if row.detail else "",
            )
        )
    return by_key


def tenant_view(
    book: ReputationBook, key: str, own: Sequence[Event], snapshot: ReputationSnapshot, value: float
) -> dict[str, Any]:
    """A host's reputation as one tenant may see it. Completed keeps and reports carry another
    tenant's values and words, so only the caller's own (`own`) are listed; the evidence
    placement used (`snapshot`, the full record) is given as an aggregate at this deployment's
    value (`ReputationSnapshot.seen_at`), from which `risk explain` reproduces the decision's
    bound exactly."""
    host_events = [e for e in book.events(key) if e.kind not in _TENANT_KINDS]
    events = sorted([*host_events, *own], key=lambda e: e.at)
    return {
        "events": [e.to_json() for e in events],
        "reputation": snapshot.seen_at(value).to_json(),
    }


def report_placement(conn: Connection, tenant_id: str, placement_id: str, note: str) -> None:
    """A tenant's report against the host that ran one of its placements (one per placement).
    NotFound: not the tenant's placement, or never placed; Conflict: reported already."""
    row = conn.execute(
        select(placements.c.host_id)
        .join(deployments, deployments.c.id == placements.c.deployment_id)
        .where(placements.c.id == placement_id, deployments.c.tenant_id == tenant_id)
    ).first()
    if row is None or row.host_id is None:
        raise NotFound("placement")
    if reported(conn, placement_id):
        raise Conflict(N_("this placement was already reported"))
    record(conn, row.host_id, EventKind.TENANT_REPORT, placement_id=placement_id, note=note)


def release_host(conn: Connection, host_id: str) -> str:
    """Lift the quarantine of a host's reputation key; the key released."""
    if conn.execute(select(hosts.c.id).where(hosts.c.id == host_id)).first() is None:
        raise NotFound("host")
    key = key_of_host(conn, host_id)
    record(conn, host_id, RELEASE, key=key)
    return key
