"""Deployments: N replicas of one workload under the tenant's current policy, and their views."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections import Counter
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from elsewhere.control.broker.results import host_document_problem
from elsewhere.control.broker.secrets import missing_secrets
from elsewhere.control.store.ids import from_b64, new_id
from elsewhere.control.store.tables import (
    ENDED_STATES,
    UNFINISHED_STATES,
    decisions,
    deployments,
    hosts,
    placements,
    results,
    workloads,
)
from elsewhere.control.tenancy.workloads import find_workload
from elsewhere.control.trust.policies import current_policy
from elsewhere.crypto.hpke import PublicKey
from elsewhere.errors import InputError, NotFound
from elsewhere.i18n import N_
from elsewhere.keep.config import KeepConfig
from elsewhere.keep.limits import KeepLimits
from elsewhere.risk.quantities import Money
from elsewhere.timeutil import iso, utcnow


class DeployRequest(BaseModel):
    workload: str = Field(description="SHA-384 digest (or a 12+ digit prefix) or workload id")
    replicas: int = Field(1, ge=1, le=100)
    args: list[str] = Field(default_factory=list, max_length=256)
    env: dict[str, str] = Field(default_factory=dict)
    stdin: str = Field("", description="base64")
    secrets: list[str] = Field(default_factory=list, max_length=64)
    limits: dict[str, Any] = Field(
        default_factory=dict,
        description="keep limits (elsewhere.keep.limits.KeepLimits fields), defaults if absent",
    )
    result_key: str | None = Field(
        None, description="base64 tagged HPKE public key: results are sealed to it"
    )
    impact: dict[str, Any] | None = Field(
        None,
        description='what compromise of this workload would cost, {"amount": "10000", '
        '"currency": "USD"}; the control plane\'s default if absent',
    )


def create_deployment(
    conn: Connection, tenant_id: str, request: DeployRequest, impact: Money | None = None
) -> dict[str, Any]:
    workload = find_workload(conn, tenant_id, request.workload)
    if workload is None:
        raise InputError(
            "workload", request.workload[:40], N_("no such workload (upload it first)")
        )
    policy = current_policy(conn, tenant_id)
    if policy is None:
        raise InputError(
            "policy", "tenant", N_("no policy set (set one first: elsewhere set-policy FILE)")
        )
    # What the keep itself would refuse (a NUL in an argument or the environment, a secret name
    # that is not a plain file name, a bad limit) is refused now, before anything is stored or
    # looked up: ConfigError names the field.
    KeepConfig(
        workload_digest=bytes.fromhex(workload["digest"]),
        args=tuple(request.args),
        env=request.env,
        limits=KeepLimits.from_json(request.limits),
        secret_names=tuple(sorted(request.secrets)),
    )
    missing = missing_secrets(conn, tenant_id, request.secrets)
    if missing:
        raise InputError("secrets", ", ".join(missing), N_("no such secret"))
    stdin = from_b64("stdin", request.stdin)
    result_key = None
    if request.result_key:
        result_key = PublicKey.parse(from_b64("result_key", request.result_key)).encode()
    spec = request.model_dump(exclude={"workload", "replicas", "result_key", "impact"})
    spec["stdin"] = base64.b64encode(stdin).decode()
    deployment_id = new_id("dep")
    now = utcnow()
    conn.execute(
        deployments.insert().values(
            id=deployment_id,
            tenant_id=tenant_id,
            workload_id=workload["id"],
            policy_id=policy["id"],
            replicas=request.replicas,
            spec=json.dumps(spec, sort_keys=True),
            result_key=result_key,
            state="active",
            created_at=now,
            impact=None if impact is None else json.dumps(impact.to_json()),
        )
    )
    conn.execute(
        placements.insert(),
        [
            {
                "id": new_id("pl"),
                "deployment_id": deployment_id,
                "replica": i,
                "state": "pending",
                "attempt": 0,
                "updated_at": now,
            }
            for i in range(request.replicas)
        ],
    )
    created = {"id": deployment_id, "workload": workload["digest"], "replicas": request.replicas}
    return created | ({"impact": impact.to_json()} if impact is not None else {})


def find_deployment(conn: Connection, tenant_id: str, deployment_id: str) -> Any:
    return conn.execute(
        select(deployments).where(
            deployments.c.id == deployment_id, deployments.c.tenant_id == tenant_id
        )
    ).first()


# What a deployment can be: `active` while any replica has work ahead of it; then `completed`
# (every replica finished), `failed` (every replica ended, one or more failed), or `stopped`.


def deployment_state(stored: str, placement_states: Iterable[str]) -> str:
    """The deployment's state from its stored one and its placements' (docs/cli.md)."""
    if stored == "stopped":
        return "stopped"
    states = list(placement_states)
    if not states or any(s not in ENDED_STATES for s in states):
        return "active"
    return "failed" if "failed" in states else "completed"


def stop_deployment(conn: Connection, tenant_id: str, deployment_id: str) -> list[str] | None:
    """Stop a deployment: its unfinished replicas are withdrawn (hosts stop their keeps).
    Returns the placements it stopped, or None when there was nothing to stop (stopped
    already, or every replica finished). NotFound: not this tenant's deployment."""
    row = find_deployment(conn, tenant_id, deployment_id)
    if row is None:
        raise NotFound("deployment")
    if row.state == "stopped":
        return None
    unfinished = list(
        conn.execute(
            select(placements.c.id).where(
                placements.c.deployment_id == deployment_id,
                placements.c.state.in_(UNFINISHED_STATES),
            )
        ).scalars()
    )
    if not unfinished:
        return None
    conn.execute(
        update(deployments).where(deployments.c.id == deployment_id).values(state="stopped")
    )
    conn.execute(
        update(placements)
        .where(placements.c.id.in_(unfinished), placements.c.state.in_(UNFINISHED_STATES))
        .values(state="stopped", updated_at=utcnow())
    )
    return unfinished


def _placement_states(conn: Connection, deployment_ids: list[str]) -> dict[str, list[str]]:
    states: dict[str, list[str]] = {d: [] for d in deployment_ids}
    if deployment_ids:
        rows = conn.execute(
            select(placements.c.deployment_id, placements.c.state).where(
                placements.c.deployment_id.in_(deployment_ids)
            )
        ).all()
        for r in rows:
            states[r.deployment_id].append(r.state)
    return states


def list_deployments(conn: Connection, tenant_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(
            deployments.c.id,
            deployments.c.replicas,
            deployments.c.state,
            deployments.c.created_at,
            workloads.c.digest,
            workloads.c.name,
        )
        .join(workloads, workloads.c.id == deployments.c.workload_id)
        .where(deployments.c.tenant_id == tenant_id)
        .order_by(deployments.c.created_at)
    ).all()
    states = _placement_states(conn, [r.id for r in rows])
    return [
        {
            "id": r.id,
            "workload": r.digest,
            "workload_name": r.name,
            "replicas": r.replicas,
            "state": deployment_state(r.state, states[r.id]),
            "placements": dict(sorted(Counter(states[r.id]).items())),
            "created_at": iso(r.created_at),
        }
        for r in rows
    ]


def decision_views(conn: Connection, deployment_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(decisions, hosts.c.name.label("host_name"))
        .join(hosts, hosts.c.id == decisions.c.host_id)
        .where(decisions.c.deployment_id == deployment_id)
        .order_by(decisions.c.created_at)
    ).all()
    return [
        {
            "id": r.id,
            "placement": r.placement_id,
            "host": r.host_name,
            "kind": r.kind,
            "verdict": r.verdict,
            "action": r.action,
            "reasons": json.loads(r.reasons),
            "claims": json.loads(r.claims) if r.claims else None,
            "policy_digest": r.policy_digest,
            "token": r.token,
            "ledger_index": r.ledger_index,
            "at": iso(r.created_at),
        }
        for r in rows
    ]


def deployment_view(conn: Connection, tenant_id: str, deployment_id: str) -> dict[str, Any] | None:
    row = find_deployment(conn, tenant_id, deployment_id)
    if row is None:
        return None
    digest = conn.execute(
        select(workloads.c.digest).where(workloads.c.id == row.workload_id)
    ).scalar_one()
    now = utcnow()
    places = conn.execute(
        select(
            placements,
            hosts.c.name.label("host_name"),
            results.c.exit_code,
            results.c.error,
            results.c.stdout,
            results.c.stderr,
            results.c.sealed,
            results.c.isolation,
            results.c.host_isolation,
            results.c.duration_ms,
        )
        .outerjoin(hosts, hosts.c.id == placements.c.host_id)
        .outerjoin(results, results.c.placement_id == placements.c.id)
        .where(placements.c.deployment_id == deployment_id)
        .order_by(placements.c.replica)
    ).all()
    return {
        "id": row.id,
        "workload": digest,
        "replicas": row.replicas,
        "state": deployment_state(row.state, (p.state for p in places)),
        "spec": {k: v for k, v in json.loads(row.spec).items() if k != "stdin"},
        "sealed_results": row.result_key is not None,
        "impact": json.loads(row.impact) if row.impact else None,
        "created_at": iso(row.created_at),
        "placements": [_placement_view(p, now) for p in places],
        "decisions": decision_views(conn, deployment_id),
    }


def attestation_view(p: Any, now: dt.datetime) -> dict[str, Any]:
    """A placement's continuous attestation: when its keep was last attested (accepted), when
    it must re-attest next and by when, and whether it is overdue (due and not done)."""
    due = p.reattest_due
    return {
        "attested_at": None if p.attested_at is None else iso(p.attested_at),
        "reattest_due": None if due is None else iso(due),
        "reattest_deadline": None if p.reattest_deadline is None else iso(p.reattest_deadline),
        "overdue": p.state == "released" and due is not None and due < now,
    }


def _placement_view(p: Any, now: dt.datetime) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": p.id,
        "replica": p.replica,
        "state": p.state,
        "host": p.host_name,
        "attempt": p.attempt,
        "note": p.note,
        "refusal": p.refusal,  # the last refusal this replica met (kept when re-placed)
        "keep_key_digest": p.keep_key_digest,
        **attestation_view(p, now),
        "risk": json.loads(p.risk) if p.risk else None,
        "result": None,
    }
    if p.isolation is not None:
        view["result"] = {
            "exit_code": p.exit_code,
            "error": p.error,
            "stdout": base64.b64encode(p.stdout).decode(),
            "stderr": base64.b64encode(p.stderr).decode(),
            "sealed": p.sealed,
            "isolation": json.loads(p.isolation),
            "host_reported_isolation": host_reported(p.host_isolation),
            "duration_ms": p.duration_ms,
        }
    return view


UNREADABLE = "unreadable host-reported document"


def host_reported(stored: str | None) -> Any:
    """A stored host-reported document, or an explicit marker when it cannot be shown: rows
    stored before the edge bounded them (#21, 4) may hold one too deep to load or answer, and
    one such row must not fail the tenant's whole view."""
    if stored is None:
        return None
    try:
        document = json.loads(stored)
    except (ValueError, RecursionError):
        return {"error": f"{UNREADABLE}: not JSON"}
    problem = host_document_problem(document)
    if problem:
        return {"error": f"{UNREADABLE}: {problem}"}
    return document
