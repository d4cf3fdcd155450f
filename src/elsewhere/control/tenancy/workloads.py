"""Workloads: WebAssembly modules validated with wasmtime at upload, named by SHA-384 digest."""

from __future__ import annotations

import functools
from typing import Any

import wasmtime
from sqlalchemy import select
from sqlalchemy.engine import Connection

from elsewhere.control.store.ids import new_id
from elsewhere.control.store.tables import workloads
from elsewhere.crypto.binding import workload_digest
from elsewhere.errors import InputError
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
        wasmtime.Module.validate(_engine(), wasm)
    except wasmtime.WasmtimeError as error:
        raise InputError("workload", "validation", str(error).splitlines()[0]) from None


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
    query = select(*_COLUMNS).where(workloads.c.tenant_id == tenant_id)
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
        select(*_COLUMNS).where(workloads.c.tenant_id == tenant_id).order_by(workloads.c.created_at)
    ).all()
    return [dict(r._mapping) for r in rows]
