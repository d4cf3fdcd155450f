"""The ledger over HTTP. Anyone may read it without a token, as c2sp.org/tlog-tiles lays a log
out: the keys, the signed checkpoint, tiles, entry bundles and consistency proofs (so anyone
can verify). The one tenant-only route is the ready-made proof bundle of a tenant's own entry.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse, Response

from elsewhere.control.http.deps import Plane, Tenant
from elsewhere.control.store.transactions import read
from elsewhere.control.tenancy import deployments as deps
from elsewhere.control.trust import transparency
from elsewhere.errors import NotFound

router = APIRouter(prefix="/v1/ledger", tags=["ledger"])

TEXT = "text/plain; charset=utf-8"
# The checkpoint changes as the log grows: a cache may keep it a moment, never longer.
CHECKPOINT_CACHE = "public, max-age=2, must-revalidate"
FULL_TILE_CACHE = "public, max-age=31536000, immutable"
# A partial tile's bytes never change either, but the log may stop serving it once the full
# tile exists (tlog-tiles allows that): cached for a while, not for ever.
PARTIAL_TILE_CACHE = "public, max-age=3600"


@router.get("/key", response_class=PlainTextResponse)
def ledger_key(cp: Plane) -> PlainTextResponse:
    """The log's verifier keys (C2SP note vkeys), one per line, the current one first: every
    key that signs or signed its checkpoints. `--key` reads this text as it is."""
    return PlainTextResponse(transparency.key_lines(cp), media_type=TEXT)


@router.get("/checkpoint", response_class=PlainTextResponse)
def ledger_checkpoint(cp: Plane) -> Response:
    """The latest signed checkpoint (c2sp.org/tlog-checkpoint, a signed note)."""
    note = transparency.checkpoint(cp)
    return Response(note, media_type=TEXT, headers={"Cache-Control": CHECKPOINT_CACHE})


@router.get("/tile/{path:path}", response_class=Response)
def ledger_tile(cp: Plane, path: str) -> Response:
    """A tile `<L>/<N>[.p/<W>]` (256 or W hashes of 32 bytes) or an entry bundle
    `entries/<N>[.p/<W>]` (uint16 big-endian length-prefixed entries), c2sp.org/tlog-tiles."""
    found = transparency.tile(cp, path)
    cache = FULL_TILE_CACHE if found.full else PARTIAL_TILE_CACHE
    return Response(
        found.data, media_type="application/octet-stream", headers={"Cache-Control": cache}
    )


@router.get("/consistency", response_class=PlainTextResponse)
def ledger_consistency(
    cp: Plane,
    old: Annotated[str | None, Query(max_length=20)] = None,
    new: Annotated[str | None, Query(max_length=20)] = None,
) -> PlainTextResponse:
    """RFC 9162 consistency proof from size `old` to `new` (default: the latest checkpoint's
    size), one base64 hash per line."""
    return PlainTextResponse(transparency.consistency(cp, old, new), media_type=TEXT)


@router.get("/entries/{index}/bundle", response_class=PlainTextResponse)
def ledger_bundle(cp: Plane, cred: Tenant, index: int) -> PlainTextResponse:
    """An offline inclusion proof (c2sp tlog-proof) of one of the caller's ledger entries,
    against a signed checkpoint; verify it with `elsewhere ledger verify` and the vkey."""
    tenant_id = str(cred.subject)
    if not 0 <= index < cp.ledger.size or not _concerns(cp, cp.ledger.entry(index), tenant_id):
        raise NotFound("ledger entry")
    return PlainTextResponse(cp.ledger.bundle(index).decode())


def _concerns(cp: Plane, entry: dict[str, object], tenant_id: str) -> bool:
    if entry.get("tenant") == tenant_id:
        return True
    deployment_ids = entry.get("workloads") or []
    if not isinstance(deployment_ids, list) or not deployment_ids:
        return False
    with read(cp.engine) as conn:
        return any(deps.find_deployment(conn, tenant_id, d) is not None for d in deployment_ids)
