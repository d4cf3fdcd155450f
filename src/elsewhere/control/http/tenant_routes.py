"""Tenant and operator endpoints. Every query is scoped to the caller's tenant: another
tenant's objects answer 404 exactly like missing ones."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from elsewhere.control.broker import secrets as secret_store
from elsewhere.control.http.deps import Operator, Plane, Tenant, log
from elsewhere.control.scheduling import assign as riskplace
from elsewhere.control.scheduling import riskdoc
from elsewhere.control.scheduling.maintenance import tick
from elsewhere.control.store.transactions import read, write
from elsewhere.control.tenancy import deployments as deps
from elsewhere.control.tenancy.auth import Credential
from elsewhere.control.tenancy.hosts import host_views
from elsewhere.control.tenancy.tenants import set_risk_budget
from elsewhere.control.tenancy.workloads import (
    delete_workload,
    find_workload,
    list_workloads,
    store_workload,
    validate,
)
from elsewhere.control.trust import audit, recheck, reputation
from elsewhere.control.trust.policies import current_policy
from elsewhere.errors import NotFound
from elsewhere.timeutil import iso, utcnow

router = APIRouter(prefix="/v1")


def _tenant(cred: Credential) -> str:
    return str(cred.subject)


@router.get("/whoami", tags=["tenant"])
def whoami(cred: Tenant) -> dict[str, Any]:
    return {"kind": cred.kind.value, "tenant": cred.subject, "name": cred.name}


@router.post("/workloads", status_code=201, tags=["tenant"])
def upload_workload(
    cp: Plane,
    cred: Tenant,
    wasm: Annotated[bytes, Body(media_type="application/wasm")],
    name: Annotated[str, Query(max_length=200)] = "workload.wasm",
) -> dict[str, Any]:
    """Upload a WebAssembly module (validated with wasmtime); named by its SHA-384 digest."""
    validate(wasm)  # before the transaction: compiling checks can take a while
    with write(cp.engine) as conn:
        stored = store_workload(conn, _tenant(cred), name, wasm, validated=True)
    return stored | {"created_at": iso(stored["created_at"])}


@router.get("/workloads", tags=["tenant"])
def get_workloads(cp: Plane, cred: Tenant) -> list[dict[str, Any]]:
    with read(cp.engine) as conn:
        rows = list_workloads(conn, _tenant(cred))
    return [r | {"created_at": iso(r["created_at"])} for r in rows]


@router.get("/workloads/{ref}", tags=["tenant"])
def get_workload(cp: Plane, cred: Tenant, ref: str) -> dict[str, Any]:
    with read(cp.engine) as conn:
        found = find_workload(conn, _tenant(cred), ref)
    if found is None:
        raise NotFound("workload")
    return found | {"created_at": iso(found["created_at"])}


@router.delete("/workloads/{ref}", tags=["tenant"])
def remove_workload(cp: Plane, cred: Tenant, ref: str) -> dict[str, Any]:
    """Delete a workload: its bytes are erased and it can no longer be deployed (409 while a
    deployment still has replicas to run); past deployments keep naming its digest."""
    tenant_id = _tenant(cred)
    with write(cp.engine) as conn:
        found = delete_workload(conn, tenant_id, ref)
        index = audit.record_withdrawal(
            cp.ledger, conn, tenant_id, "delete_workload", "sha384:" + found["digest"]
        )
    return {"digest": found["digest"], "name": found["name"], "deleted": True} | {
        "ledger_index": index
    }


@router.put("/secrets/{name}", status_code=201, tags=["tenant"])
def put_secret(
    cp: Plane,
    cred: Tenant,
    name: str,
    value: Annotated[bytes, Body(media_type="application/octet-stream")],
) -> dict[str, str]:
    """Store a secret (encrypted at rest); it is released only to attested keeps."""
    with write(cp.engine) as conn:
        secret_id = secret_store.put_secret(conn, cp.kek, _tenant(cred), name, value)
    return {"name": name, "id": secret_id}


@router.get("/secrets", tags=["tenant"])
def get_secrets(cp: Plane, cred: Tenant) -> list[dict[str, str]]:
    """Secret names only: values are never returned."""
    with read(cp.engine) as conn:
        return secret_store.list_secrets(conn, _tenant(cred))


@router.delete("/secrets/{name}", tags=["tenant"])
def delete_secret(cp: Plane, cred: Tenant, name: str) -> dict[str, Any]:
    """Delete a secret: replicas that need it are refused their release from then on (an
    attest that had read it already may still complete)."""
    tenant_id = _tenant(cred)
    with write(cp.engine) as conn:
        secret_id = secret_store.delete_secret(conn, tenant_id, name)
        if secret_id is None:
            raise NotFound("secret")
        index = audit.record_withdrawal(cp.ledger, conn, tenant_id, "delete_secret", secret_id)
    return {"name": name, "id": secret_id, "deleted": True, "ledger_index": index}


@router.put("/policy", tags=["tenant"])
def put_policy(
    cp: Plane, cred: Tenant, document: Annotated[str, Body(media_type="text/plain")]
) -> dict[str, Any]:
    """Set a new policy version (TOML); running keeps are re-checked against it."""
    return recheck.set_policy(cp, _tenant(cred), document)


@router.get("/policy", tags=["tenant"])
def get_policy(cp: Plane, cred: Tenant) -> dict[str, Any]:
    with read(cp.engine) as conn:
        found = current_policy(conn, _tenant(cred))
    if found is None:
        raise NotFound("policy")
    return {k: found[k] for k in ("version", "digest", "document")} | {
        "created_at": iso(found["created_at"])
    }


@router.post("/deployments", status_code=201, tags=["tenant"])
def deploy(cp: Plane, cred: Tenant, request: deps.DeployRequest) -> dict[str, Any]:
    """Deploy; `impact` (what compromise would cost) sizes the risk each placement carries."""
    impact = riskplace.checked_impact(cp.config, request.impact)
    with write(cp.engine) as conn:
        created = deps.create_deployment(conn, _tenant(cred), request, impact)
    try:
        tick(cp)  # place it now rather than at the next maintenance round
    except Exception as error:  # committed already; the maintenance round will place it
        log.warning("placing deployment %s deferred: %s", created["id"], type(error).__name__)
    return created


@router.get("/deployments", tags=["tenant"])
def get_deployments(cp: Plane, cred: Tenant) -> list[dict[str, Any]]:
    with read(cp.engine) as conn:
        return deps.list_deployments(conn, _tenant(cred))


@router.get("/deployments/{deployment_id}", tags=["tenant"])
def get_deployment(cp: Plane, cred: Tenant, deployment_id: str) -> dict[str, Any]:
    """The deployment, its placements with their results and isolation reports, and every
    attestation and re-check decision (with attestation-result tokens and ledger indexes)."""
    with read(cp.engine) as conn:
        view = deps.deployment_view(conn, _tenant(cred), deployment_id)
    if view is None:
        raise NotFound("deployment")
    return view


@router.get("/deployments/{deployment_id}/risk", tags=["tenant"])
def get_deployment_risk(cp: Plane, cred: Tenant, deployment_id: str) -> dict[str, Any]:
    """The deployment as `elsewhere risk explain` reads it (elsewhere.risk.deployment/1): impact,
    budget, committed risk, the hosts policy accepts now with their reputation as this tenant
    may see it; and the stored risk decision of each placement."""
    with read(cp.engine) as conn:
        row = deps.find_deployment(conn, _tenant(cred), deployment_id)
        if row is None:
            raise NotFound("deployment")
        hosts = riskdoc.accepted_hosts(cp, conn, row)
        return riskdoc.risk_document(cp, conn, row, hosts)


@router.put("/risk-budget", tags=["tenant"])
def put_risk_budget(cp: Plane, cred: Tenant, budget: dict[str, Any]) -> dict[str, Any]:
    """Set the risk the tenant accepts, {"amount": "5000", "currency": "USD", "per": "year"}:
    the sum of its live placements' annual risk stays within it."""
    checked = riskplace.checked_budget(cp.config, budget)
    with write(cp.engine) as conn:
        set_risk_budget(conn, _tenant(cred), checked.to_json())
    return {"budget": checked.to_json(), "default": False}


@router.get("/risk-budget", tags=["tenant"])
def get_risk_budget(cp: Plane, cred: Tenant) -> dict[str, Any]:
    with read(cp.engine) as conn:
        budget, default = riskplace.tenant_budget(conn, cp.config, _tenant(cred))
        cur = riskplace.settings(cp.config).currency
        committed = riskplace.committed_risk(conn, _tenant(cred), cur)
    return {"budget": budget.to_json(), "default": default, "committed": committed.to_json()}


class Report(BaseModel):
    note: str = Field("", max_length=500)


@router.post("/placements/{placement_id}/reports", status_code=201, tags=["tenant"])
def report_placement(cp: Plane, cred: Tenant, placement_id: str, report: Report) -> dict[str, Any]:
    """Report misbehaviour of the host that ran one of your placements (one report per
    placement); it counts against the host's reputation as a tenant report."""
    with write(cp.engine) as conn:
        reputation.report_placement(conn, _tenant(cred), placement_id, report.note)
    return {"placement": placement_id, "recorded": "tenant_report"}


def _stop(cp: Any, tenant_id: str, deployment_id: str) -> dict[str, Any]:
    with write(cp.engine) as conn:
        stopped = deps.stop_deployment(conn, tenant_id, deployment_id)
        index = None
        if stopped is not None:  # logged only when it withdrew something
            index = audit.record_withdrawal(
                cp.ledger,
                conn,
                tenant_id,
                "stop_deployment",
                deployment_id,
                deployments=(deployment_id,),
                placements=tuple(stopped),
            )
        view = deps.deployment_view(conn, tenant_id, deployment_id) or {}
    return {
        "id": deployment_id,
        "state": view.get("state"),
        "stopped": stopped or [],
        "ledger_index": index,
    }


@router.post("/deployments/{deployment_id}/stop", tags=["tenant"])
def stop_deployment(cp: Plane, cred: Tenant, deployment_id: str) -> dict[str, Any]:
    """Stop a deployment: replicas still pending or running are withdrawn and their hosts stop
    the keeps; `stopped` lists them (empty when it had ended already)."""
    return _stop(cp, _tenant(cred), deployment_id)


@router.delete("/deployments/{deployment_id}", status_code=204, tags=["tenant"])
def delete_deployment(cp: Plane, cred: Tenant, deployment_id: str) -> Response:
    """The same stop as POST …/stop, answered 204 (kept for clients of the first API)."""
    _stop(cp, _tenant(cred), deployment_id)
    return Response(status_code=204)


@router.post(
    "/advisories",
    tags=["operator"],
    openapi_extra={"requestBody": {"content": {"application/json": {}}, "required": True}},
)
async def import_advisories(
    cp: Plane,
    cred: Operator,
    request: Request,
    source: Annotated[str, Query(max_length=200)] = "api",
) -> dict[str, Any]:
    """Import an advisory feed (elsewhere.advisories/1); running keeps are re-checked."""
    body = await request.body()
    return await run_in_threadpool(recheck.import_advisories, cp, body, source)


@router.get("/hosts", tags=["operator"])
def list_hosts(cp: Plane, cred: Operator) -> list[dict[str, Any]]:
    """Hosts with their reputation key and quarantine (lift one with POST .../release)."""
    with read(cp.engine) as conn:
        views = host_views(conn, cp.config.attest_refusal_limit)
    book = reputation.current_book(cp.engine, cp.reputation_cache)
    for view in views:
        chip = (view["last_claims"] or {}).get("chip_id")
        key = book.key_for(view["id"], chip)
        view["reputation_key"] = key
        view["quarantined"] = book.snapshot(key, utcnow()).quarantined
    return views


@router.post("/hosts/{host_id}/release", tags=["operator"])
def release_host(cp: Plane, cred: Operator, host_id: str) -> dict[str, Any]:
    """Lift the quarantine of a host's reputation key (its CUSUM restarts from zero)."""
    with write(cp.engine) as conn:
        key = reputation.release_host(conn, host_id)
    return {"host": host_id, "released": key}
