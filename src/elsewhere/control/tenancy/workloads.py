"""Workloads: WebAssembly modules validated with wasmtime at upload, named by SHA-384 digest."""

from __future__ import annotations

import functools
from typing import Any

import wasmtime
from sqlalchemy import exists, select, update
from sqlalchemy.engine import Connection

from elsewhere.control.store.ids import new_id
from elsewhere.control.store.tables import (
    UNFINISHED_STATES,
    deployments,
    placements,
    workloads,
)
from elsewhere.crypto.binding import workload_digest
from elsewhere.errors import Conflict, InputError, NotFound
from elsewhere.i18n import N_
from elsewhere.timeutil import utcnow

MAX_WASM_BYTES = 32 * 1024 * 1024
WASM_MAGIC = b"\x00asm"


@functools.cache
def _engine() -> wasmtime.Engine:
    return wasmtime.Engine()


def digest_of(wasm: bytes) -> str:
    """The workload's identity, hex: the same SHA-384 the keep checks before compiling."""
    return workload_digest(wasm).hex()


def validate(wasm: bytes) -> None:
    """Raise InputError unless `wasm` is a valid WebAssembly binary module."""
    if len(wasm) > MAX_WASM_BYTES:
        raise InputError(
            "workload",
            "size",
            N_("{size} bytes, at most {limit}").format(size=len(wasm), limit=MAX_WASM_BYTES),
        )
    if not wasm.startswith(WASM_MAGIC):
        raise InputError(
            "workload", "header", "not a WebAssembly binary (no \\0asm magic; compile .wat first)"
        )
    try:
        module = wasmtime.Module(_engine(), wasm)
    except wasmtime.WasmtimeError as error:
        raise InputError("workload", "validation", str(error).splitlines()[0]) from None
    # The keep runs `_start` (a WASI command module); without it every replica would fail.
    if not any(
        e.name == "_start" and isinstance(e.type, wasmtime.FuncType) for e in module.exports
    ):
        raise InputError(
            "workload", "exports", "no _start function (not a WASI command module; nothing to run)"
        )


def store_workload(
    conn: Connection, tenant_id: str, name: str, wasm: bytes, *, validated: bool = False
) -> dict[str, Any]:
    """Validate (unless the caller did, outside its transaction) and store a module for one
    tenant; uploading the same bytes again is a no-op."""
    if not validated:
        validate(wasm)
    name = (name or "workload.wasm").strip()[:200] or "workload.wasm"
    digest = digest_of(wasm)
    existing = find_workload(conn, tenant_id, digest)
    if existing is not None:
        return existing
    deleted = conn.execute(
        select(workloads.c.id).where(
            workloads.c.tenant_id == tenant_id, workloads.c.digest == digest
        )
    ).first()
    if deleted is not None:  # uploaded again after a delete: the same row, bytes restored
        conn.execute(
            update(workloads)
            .where(workloads.c.id == deleted.id)
            .values(wasm=wasm, name=name, deleted_at=None)
        )
        return find_workload(conn, tenant_id, digest) or {}
    workload_id = new_id("wl")
    now = utcnow()
    conn.execute(
        workloads.insert().values(
            id=workload_id,
            tenant_id=tenant_id,
            digest=digest,
            name=name,
            size=len(wasm),
            wasm=wasm,
            created_at=now,
        )
    )
    return {"id": workload_id, "digest": digest, "name": name, "size": len(wasm), "created_at": now}


_COLUMNS = (
    workloads.c.id,
    workloads.c.digest,
    workloads.c.name,
    workloads.c.size,
    workloads.c.created_at,
)


def find_workload(conn: Connection, tenant_id: str, ref: str) -> dict[str, Any] | None:
    """A tenant's workload by digest (or a unique digest prefix of 12+ hex digits) or by id."""
    query = select(*_COLUMNS).where(
        workloads.c.tenant_id == tenant_id, workloads.c.deleted_at.is_(None)
    )
    ref = ref.strip().lower().removeprefix("sha384:")
    if ref.startswith("wl_"):
        rows = conn.execute(query.where(workloads.c.id == ref)).all()
    elif len(ref) >= 12 and all(c in "0123456789abcdef" for c in ref):
        rows = conn.execute(query.where(workloads.c.digest.startswith(ref))).all()
    else:
        return None
    return dict(rows[0]._mapping) if len(rows) == 1 else None


def list_workloads(conn: Connection, tenant_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(*_COLUMNS)
        .where(workloads.c.tenant_id == tenant_id, workloads.c.deleted_at.is_(None))
        .order_by(workloads.c.created_at)
    ).all()
    return [dict(r._mapping) for r in rows]


def delete_workload(conn: Connection, tenant_id: str, ref: str) -> dict[str, Any]:
    """Erase a workload's bytes so it can no longer be deployed or sent to a host. NotFound:
    no such workload of this tenant; Conflict: a deployment still has replicas to run."""
    found = find_workload(conn, tenant_id, ref)
    if found is None:
        raise NotFound("workload")
    live = conn.execute(
        select(
            exists().where(
                deployments.c.workload_id == found["id"],
                deployments.c.state == "active",
                placements.c.deployment_id == deployments.c.id,
                placements.c.state.in_(UNFINISHED_STATES),
            )
        )
    ).scalar()
    if live:
        raise Conflict(
            "workload: a deployment still runs it (stop it first: elsewhere deployment stop ID)"
        )
    conn.execute(
        update(workloads).where(workloads.c.id == found["id"]).values(wasm=b"", deleted_at=utcnow())
    )
    return found
