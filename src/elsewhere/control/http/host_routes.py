"""Host-agent endpoints: register, poll (heartbeat + assignments), fetch the module, ask for a
nonce, submit evidence, report the result. A host sees only its own placements."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from elsewhere.control.broker import attest as broker
from elsewhere.control.broker import refusals as broker_refusals
from elsewhere.control.broker.reattest import reattest_keep
from elsewhere.control.broker.results import ResultRequest, store_result
from elsewhere.control.config import ControlPlane
from elsewhere.control.http.deps import (
    HOST_TOKEN_DOC,
    HostCred,
    Plane,
    blocking,
    host_credential,
    parsed,
    plane,
)
from elsewhere.control.scheduling import assign as riskplace
from elsewhere.control.store.transactions import read, write
from elsewhere.control.tenancy import hosts as host_store
from elsewhere.control.tenancy.auth import Credential
from elsewhere.control.trust.reattest import due_for
from elsewhere.errors import NotFound
from elsewhere.timeutil import utcnow

router = APIRouter(prefix="/v1", tags=["host"])


class RegisterRequest(BaseModel):
    name: str = Field(max_length=200)
    attester: str = Field(max_length=32)
    capacity: int = 4


def host_of(cp: ControlPlane, cred: Credential) -> str:
    """The host a credential registered (fixed once registered, so remembered)."""
    known = cp.host_ids
    if cred.id not in known:
        with read(cp.engine) as conn:
            known[cred.id] = host_store.host_of(conn, cred)
    return known[cred.id]


@router.post("/hosts/register")
def register(cp: Plane, cred: HostCred, request: RegisterRequest) -> dict[str, Any]:
    with write(cp.engine) as conn:
        host_id = host_store.register(conn, cred, request.name, request.attester, request.capacity)
    return {
        "host": host_id,
        "heartbeat_seconds": max(1.0, cp.config.heartbeat_timeout.total_seconds() / 3),
    }


@router.get("/hosts/me/assignments")
def poll(cp: Plane, cred: HostCred) -> dict[str, Any]:
    """Heartbeat; the host's assigned, not yet attested placements (`assignments`), the
    placements whose keeps it may keep running (`running`): any other keep it must stop, and
    those of them that must re-attest now (`reattest`)."""
    host_id = host_of(cp, cred)
    with write(cp.engine) as conn:
        host_store.heartbeat(conn, host_id)
        return {
            "host": host_id,
            "assignments": host_store.assignments(conn, host_id),
            "running": host_store.running(conn, host_id),
            "reattest": due_for(conn, host_id, utcnow()),
        }


@router.get(
    "/placements/{placement_id}/workload",
    response_class=Response,
    responses={200: {"content": {"application/wasm": {}}}},
)
def workload(cp: Plane, cred: HostCred, placement_id: str) -> Response:
    host_id = host_of(cp, cred)
    with read(cp.engine) as conn:
        wasm = host_store.workload_for(conn, host_id, placement_id)
    if wasm is None:
        raise NotFound("placement")
    return Response(content=wasm, media_type="application/wasm")


async def _host_id(request: Request, cp: ControlPlane, cred: Credential) -> str:
    host_id = cp.host_ids.get(cred.id)
    return host_id if host_id is not None else await blocking(request, host_of, cp, cred)


# The two calls of every attest-and-release, ordinary FastAPI routes that declare no
# dependencies and no body model: they check the host token (`host_credential`, the same check
# as `HostCred`) and read their body (`parsed`, the same 422) themselves, and document both in
# `openapi_extra`. Solving a dependency graph and validating a body on the event loop was a
# quarter of their framework cost (docs/control-plane.md, Performance). Their blocking work
# (parsing, reads, verification, wrapping) runs in one call on the app's bounded request
# threads; the only wait, the group commit, is awaited on its future.
# The body's schema is the component FastAPI makes for `reattest`'s declared AttestRequest
# (tests/test_control_hotpath_routes.py checks that the reference resolves).
_ATTEST_DOC: dict[str, Any] = {
    "parameters": [HOST_TOKEN_DOC],
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AttestRequest"}}},
    },
}


@router.post(
    "/placements/{placement_id}/nonce",
    response_class=JSONResponse,
    openapi_extra={"parameters": [HOST_TOKEN_DOC]},
)
async def nonce(request: Request, placement_id: str) -> JSONResponse:
    """A single-use nonce (short expiry) for this placement's evidence, and the workload and
    policy digests the keep must bind with it."""
    cp = plane(request)
    host_id = await _host_id(request, cp, await host_credential(request))
    return JSONResponse(await blocking(request, broker.issue_nonce, cp, placement_id, host_id))


def _decide(cp: ControlPlane, placement_id: str, host_id: str, body: bytes) -> broker.Release:
    return broker.decide(cp, placement_id, host_id, parsed(broker.AttestRequest, body))


@router.post(
    "/placements/{placement_id}/attest", response_class=JSONResponse, openapi_extra=_ATTEST_DOC
)
async def attest(request: Request, placement_id: str) -> JSONResponse:
    """Verify evidence, check the binding and the nonce, apply the tenant's policy, log the
    decision; on "affirming" return the secrets wrapped to the keep key."""
    cp = plane(request)
    host_id = await _host_id(request, cp, await host_credential(request))
    body = await request.body()
    release = await blocking(request, _decide, cp, placement_id, host_id, body)
    index = await asyncio.wrap_future(cp.committer.submit(release.job, release.claims))
    return JSONResponse(release.response(index))


@router.post("/placements/{placement_id}/refusal")
def refusal(
    cp: Plane, cred: HostCred, placement_id: str, request: broker_refusals.RefusalRequest
) -> dict[str, Any]:
    """The host cannot attest for this placement (its attester failed): the replica is
    re-placed on another host, the refusal logged; after the configured number in a row the
    host is assigned nothing until it attests again or re-registers."""
    return broker_refusals.refuse(cp, placement_id, host_of(cp, cred), request)


@router.post("/placements/{placement_id}/reattest", response_class=JSONResponse)
async def reattest(
    request: Request, cp: Plane, cred: HostCred, placement_id: str, body: broker.AttestRequest
) -> JSONResponse:
    """Fresh evidence of a running keep, with a fresh nonce and the SAME keep key: appraised
    like the first; a changed keep (key, measurement, TCB rollback) or a missed deadline is
    evicted, the secrets are not released again."""
    host_id = await _host_id(request, cp, cred)
    return JSONResponse(await blocking(request, reattest_keep, cp, placement_id, host_id, body))


@router.post("/placements/{placement_id}/result", status_code=204)
def result(cp: Plane, cred: HostCred, placement_id: str, request: ResultRequest) -> Response:
    host_id = host_of(cp, cred)
    with write(cp.engine) as conn:
        impact = riskplace.settings(cp.config).default_impact
        store_result(conn, placement_id, host_id, request, impact)
    return Response(status_code=204)
