"""The data commons registry over HTTP (docs/commons.md). Writes are authenticated by the
parties' signatures, checked against the roster (the roster itself by an operator token);
reads are open: ciphertexts and results are sealed, the rest is the commons' public record."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request

from elsewhere.control.commons import log as commons_log
from elsewhere.control.commons import registry
from elsewhere.control.http.deps import Operator, Plane, blocking
from elsewhere.control.store.transactions import read, write
from elsewhere.errors import InputError

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


def _checkpoint(cp: Any) -> Any:
    return commons_log.checkpoint(cp.ledger)


def _consistency(cp: Any, old: int, new: int) -> Any:
    return commons_log.consistency(cp.ledger, old, new)


def _cosign(cp: Any, note: str) -> Any:
    with read(cp.engine) as conn:
        commons = registry.roster(conn)
    return commons_log.add_cosignatures(cp.ledger, commons, note)  # its own transaction


def _bundles(cp: Any, start: int) -> Any:
    with read(cp.engine) as conn:
        return commons_log.bundles(conn, cp.ledger, start)


@router.get("/log/checkpoint")
async def get_checkpoint(request: Request, cp: Plane) -> dict[str, Any]:
    """A checkpoint of the control plane's ledger, for the custodians to witness."""
    result: dict[str, Any] = await blocking(request, _checkpoint, cp)
    return result


@router.get("/log/consistency")
async def get_consistency(request: Request, cp: Plane, old: int, new: int) -> dict[str, Any]:
    result: dict[str, Any] = await blocking(request, _consistency, cp, old, new)
    return result


@router.post("/log/cosignatures")
async def post_cosignatures(request: Request, cp: Plane, doc: Doc) -> dict[str, Any]:
    note = doc.get("note")
    if not isinstance(note, str):
        raise InputError("cosigned checkpoint", "note", "must be a string")
    result: dict[str, Any] = await blocking(request, _cosign, cp, note)
    return result


@router.get("/log/bundles")
async def get_bundles(request: Request, cp: Plane, start: int = 0) -> dict[str, Any]:
    """Inclusion proofs of every commons entry from `start`, against the latest checkpoint."""
    result: dict[str, Any] = await blocking(request, _bundles, cp, start)
    return result
