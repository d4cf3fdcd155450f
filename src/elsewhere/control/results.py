"""Results of keeps: output (sealed to the tenant's key when the deployment asked for it),
exit status and the keep's isolation report, stored with the placement."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from elsewhere.control.db import deployments, placements, results
from elsewhere.control.ids import from_b64
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
    stdout = from_b64("result stdout", request.stdout, MAX_OUTPUT)
    stderr = from_b64("result stderr", request.stderr, MAX_OUTPUT)
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
