"""Host-agent endpoints: register, poll (heartbeat + assignments), fetch the module, report the
result. A host sees only its own placements. Its two calls of every attest-and-release — ask
for a nonce, submit evidence — are not framework routes: http/hotpath.py is their one
definition."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from elsewhere.control.broker.results import ResultRequest, store_result
from elsewhere.control.config import ControlPlane
from elsewhere.control.http.deps import HostCred, Plane
from elsewhere.control.scheduling import assign as riskplace
from elsewhere.control.store.transactions import read, write
from elsewhere.control.tenancy import hosts as host_store
from elsewhere.control.tenancy.auth import Credential
from elsewhere.errors import NotFound

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
    """Heartbeat; the host's assigned, not yet attested placements (`assignments`), and the
    placements whose keeps it may keep running (`running`): any other keep it must stop."""
    host_id = host_of(cp, cred)
    with write(cp.engine) as conn:
        host_store.heartbeat(conn, host_id)
        return {
            "host": host_id,
            "assignments": host_store.assignments(conn, host_id),
            "running": host_store.running(conn, host_id),
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


@router.post("/placements/{placement_id}/result", status_code=204)
def result(cp: Plane, cred: HostCred, placement_id: str, request: ResultRequest) -> Response:
    host_id = host_of(cp, cred)
    with write(cp.engine) as conn:
        impact = riskplace.settings(cp.config).default_impact
        store_result(conn, placement_id, host_id, request, impact)
    return Response(status_code=204)
