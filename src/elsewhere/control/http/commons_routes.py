"""The data commons registry over HTTP (docs/commons.md). Writes are authenticated by the
parties' signatures, checked against the roster (the roster itself by an operator token);
reads are open: ciphertexts and results are sealed, the rest is the commons' public record."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request

from elsewhere.control.commons import registry
from elsewhere.control.http.deps import Operator, Plane, blocking
from elsewhere.control.store.transactions import read, write

router = APIRouter(prefix="/v1/commons", tags=["commons"])
Doc = Annotated[dict[str, Any], Body()]


def _write(cp: Any, function: Any, *args: Any) -> Any:
    with write(cp.engine) as conn:
        return function(conn, cp.ledger, *args)


def _read(cp: Any, function: Any, *args: Any) -> Any:
    with read(cp.engine) as conn:
        return function(conn, *args)


def _roster(conn: Any) -> dict[str, Any]:
    found = registry.roster(conn)
    return found.to_json() | {"roster_digest": found.digest}


@router.put("/roster")
async def put_roster(request: Request, cp: Plane, _: Operator, doc: Doc) -> dict[str, Any]:
    result: dict[str, Any] = await blocking(request, _write, cp, registry.set_roster, doc)
    return result


@router.get("/roster")
async def get_roster(request: Request, cp: Plane) -> dict[str, Any]:
    result: dict[str, Any] = await blocking(request, _read, cp, _roster)
    return result


@router.post("/datasets", status_code=201)
async def post_dataset(request: Request, cp: Plane, doc: Doc) -> dict[str, Any]:
    result: dict[str, Any] = await blocking(request, _write, cp, registry.add_dataset, doc)
    return result


@router.get("/datasets/{dataset_id}")
async def get_dataset(request: Request, cp: Plane, dataset_id: str) -> dict[str, Any]:
    result: dict[str, Any] = await blocking(request, _read, cp, registry.dataset, dataset_id)
    return result


@router.post("/proposals", status_code=201)
async def post_proposal(request: Request, cp: Plane, doc: Doc) -> dict[str, Any]:
    result: dict[str, Any] = await blocking(request, _write, cp, registry.add_proposal, doc)
    return result


@router.get("/proposals/{proposal_id}")
async def get_proposal(request: Request, cp: Plane, proposal_id: str) -> dict[str, Any]:
    result: dict[str, Any] = await blocking(request, _read, cp, registry.proposal_view, proposal_id)
    return result


@router.post("/proposals/{proposal_id}/decisions")
async def post_decision(request: Request, cp: Plane, proposal_id: str, doc: Doc) -> dict[str, Any]:
    result: dict[str, Any] = await blocking(
        request, _write, cp, registry.add_decision, proposal_id, doc
    )
    return result


@router.post("/proposals/{proposal_id}/result", status_code=201)
async def post_result(request: Request, cp: Plane, proposal_id: str, doc: Doc) -> dict[str, Any]:
    result: dict[str, Any] = await blocking(
        request, _write, cp, registry.add_result, proposal_id, doc
    )
    return result


@router.get("/proposals/{proposal_id}/result")
async def get_result(request: Request, cp: Plane, proposal_id: str) -> dict[str, Any]:
    result: dict[str, Any] = await blocking(request, _read, cp, registry.result, proposal_id)
    return result
