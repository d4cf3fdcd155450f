"""The risk document of a deployment (`GET /v1/deployments/{id}/risk`, schema
elsewhere.risk.deployment/1): what `elsewhere risk explain DEPLOYMENT` reads. Its impact, the
tenant's budget and committed risk, the hosts policy accepts now with their claims, outstanding
exposure, quarantine and reputation as this tenant may see it, and each placement's stored
decision. Placement itself is control/scheduling/assign.py."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from elsewhere.control.config import ControlPlane
from elsewhere.control.scheduling.assign import (
    committed_risk,
    impact_of,
    outstanding_by_host,
    platform_of,
    settings,
    tenant_budget,
)
from elsewhere.control.scheduling.eligibility import eligibility
from elsewhere.control.scheduling.scheduler import EXCLUDING_ACTIONS, HostView, active_hosts
from elsewhere.control.store.tables import decisions, placements, policies
from elsewhere.control.trust import reputation
from elsewhere.control.trust.policies import current_advisories
from elsewhere.timeutil import iso, utcnow


def risk_document(
    cp: ControlPlane, conn: Connection, view: Any, hosts: Sequence[HostView]
) -> dict[str, Any]:
    """The deployment as `elsewhere risk explain` reads it (elsewhere.risk.deployment/1):
    its impact, the tenant's budget and committed risk (without this deployment), the hosts
    policy accepts now with claims, outstanding exposure, quarantine and reputation as this
    tenant may see it (`reputation.tenant_view`); plus the stored decision of each placement."""
    risk = settings(cp.config)
    book = reputation.current_book(cp.engine, cp.reputation_cache)
    budget, default_budget = tenant_budget(conn, cp.config, view.tenant_id)
    impact = impact_of(cp.config, view.impact)
    outstanding = outstanding_by_host(conn, cp.config)
    committed = committed_risk(conn, view.tenant_id, risk.currency, excluding=view.id)
    guard = risk.config.guard
    now = utcnow()
    own = reputation.own_events(conn, view.tenant_id)
    host_docs = []
    for host in hosts:
        platform, claims = platform_of(host)
        key = book.key_for(host.id, platform.chip_id)
        snapshot = book.snapshot(key, now)
        seen = reputation.tenant_view(book, key, own.get(key, ()), snapshot, float(impact.amount))
        host_docs.append(
            {
                "host_id": host.name,
                "id": host.id,
                "reputation_key": key,
                "claims": claims,
                "outstanding": {
                    "amount": repr(round(outstanding[host.id], 6)),
                    "currency": risk.currency,
                },
                "quarantined": snapshot.quarantined,
                **seen,
            }
        )
    rows = conn.execute(
        select(placements.c.replica, placements.c.state, placements.c.risk)
        .where(placements.c.deployment_id == view.id)
        .order_by(placements.c.replica)
    ).all()
    return {
        "schema": "elsewhere.risk.deployment/1",
        "at": iso(now),
        "deployment": {
            "id": view.id,
            "tenant": view.tenant_id,
            "replicas": view.replicas,
            "impact": impact.to_json(),
            "keeps_per_year": {"value": "1", "per": "year"},
            "budget": budget.to_json(),
            "committed": committed.to_json(),
            "budget_is_default": default_budget,
        },
        "config": {
            "gamma": guard.gamma,
            "kappa": guard.kappa,
            "trial_allowance": guard.trial_allowance,
            "confidence": risk.config.confidence,
        },
        "hosts": host_docs,
        "placements": [
            {
                "replica": r.replica,
                "state": r.state,
                "decision": json.loads(r.risk) if r.risk else None,
            }
            for r in rows
        ],
    }


def accepted_hosts(cp: ControlPlane, conn: Connection, deployment: Any) -> list[HostView]:
    """The live hosts the scheduler would offer this deployment now (policy first)."""
    document, digest = conn.execute(
        select(policies.c.document, policies.c.digest).where(policies.c.id == deployment.policy_id)
    ).one()
    excluded = set(
        conn.execute(
            select(decisions.c.host_id).where(
                decisions.c.deployment_id == deployment.id,
                decisions.c.policy_digest == digest,
                decisions.c.action.in_(EXCLUDING_ACTIONS),
            )
        ).scalars()
    )
    check = eligibility(current_advisories(conn))
    live = active_hosts(conn, utcnow(), cp.config.heartbeat_timeout, cp.config.attest_refusal_limit)
    return [h for h in live if h.id not in excluded and check(h, document) is None]
