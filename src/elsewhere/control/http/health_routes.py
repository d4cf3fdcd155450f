"""`GET /readyz`: the truth for a load balancer (control/trust/readiness.py); 503 when not."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from elsewhere.control.http.deps import Plane
from elsewhere.control.scheduling.readiness import check

router = APIRouter(tags=["meta"])


@router.get("/readyz", responses={503: {"description": "not ready: the reason in `error`"}})
def readyz(cp: Plane) -> Any:
    """Ready when the database answers, its schema is current and the keys are loaded; each
    lease's holder is listed (this replica's own marked `mine`)."""
    result = check(cp)
    return JSONResponse(result.document, status_code=200 if result.ready else 503)
