"""Results of keeps: output (sealed to the tenant's key when the deployment asked for it),
exit status and the keep's isolation report, stored with the placement."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from elsewhere.control.db import deployments, placements, results
from elsewhere.errors import InputError
from elsewhere.timeutil import utcnow

MAX_OUTPUT = 4 << 20


class ResultRequest(BaseModel):
    exit_code: int | None = None
    error: str | None = Field(None, max_length=2000)
    stdout: str = Field("", description="base64 (sealed to the tenant's key when requested)")
    stderr: str = Field("", description="base64")
    sealed: bool = False
    isolation: dict[str, Any] = Field(description="the keep's isolation report")
    duration_ms: int | None = Field(None, ge=0)


def _b64(what: str, text: str) -> bytes:
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InputError("result", what, "not base64") from None
    if len(data) > MAX_OUTPUT:
        raise InputError("result", what, f"larger than {MAX_OUTPUT} bytes")
    return data


def store_result(
    conn: Connection, placement_id: str, host_id: str, request: ResultRequest
) -> str | None:
    """Record a released keep's result; returns None, or a reason it is not accepted."""
    row = conn.execute(
        select(placements.c.state, placements.c.host_id, deployments.c.result_key)
        .join(deployments, deployments.c.id == placements.c.deployment_id)
        .where(placements.c.id == placement_id)
    ).first()
    if row is None or row.host_id != host_id:
        return "not found"
    if row.state != "released":
        return f"placement is {row.state}: only a released keep reports a result"
    if row.result_key is not None and not request.sealed:
        raise InputError("result", "sealed", "this deployment's results must be sealed")
    stdout, stderr = _b64("stdout", request.stdout), _b64("stderr", request.stderr)
    conn.execute(
        results.insert().values(
            placement_id=placement_id,
            host_id=host_id,
            exit_code=request.exit_code,
            error=request.error,
            stdout=stdout,
            stderr=stderr,
            sealed=request.sealed,
            isolation=json.dumps(request.isolation, sort_keys=True),
            duration_ms=request.duration_ms,
            created_at=utcnow(),
        )
    )
    failed = request.error is not None
    conn.execute(
        update(placements)
        .where(placements.c.id == placement_id)
        .values(state="failed" if failed else "completed", updated_at=utcnow())
    )
    return None
