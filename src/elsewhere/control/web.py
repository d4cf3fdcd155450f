"""Request plumbing shared by the routers: the one-line JSON error, the ControlPlane, and
bearer-token authentication by credential kind (tenant, host, operator)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from elsewhere.control.auth import Credential, Kind, authenticate, hash_token
from elsewhere.control.config import ControlPlane
from elsewhere.control.db import read
from elsewhere.errors import ElsewhereError

log = logging.getLogger("elsewhere.control")


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = " ".join(message.split())


def not_found(what: str) -> ApiError:
    return ApiError(404, f"{what} not found")


def plane(request: Request) -> ControlPlane:
    cp: ControlPlane = request.app.state.plane
    return cp


async def plane_dependency(request: Request) -> ControlPlane:
    """`plane` as a dependency; async, so FastAPI does not send it to a worker thread."""
    return plane(request)


AUTH_CACHE_SECONDS = 5.0  # a revoked token stops working within this time


def _lookup(cp: ControlPlane, token: str) -> Credential | None:
    with read(cp.engine) as conn:
        return authenticate(conn, token)


async def _credential(request: Request, authorization: str | None) -> Credential:
    return await credential(plane(request), authorization)


async def credential(cp: ControlPlane, authorization: str | None) -> Credential:
    """The credential of an Authorization header, from a short cache or the database."""
    if not authorization or not authorization.startswith("Bearer "):
        raise ApiError(401, "missing bearer token (Authorization: Bearer <token>)")
    token = authorization[7:].strip()
    cache = cp.auth_cache
    key, now = hash_token(token), time.monotonic()
    hit = cache.get(key)
    if hit is not None and hit[1] > now:
        return hit[0]
    credential = await run_in_threadpool(_lookup, cp, token)
    if credential is None:
        raise ApiError(401, "invalid or revoked token")
    if len(cache) > 10_000:
        cache.clear()
    cache[key] = (credential, now + AUTH_CACHE_SECONDS)
    return credential


def requires(kind: Kind) -> Callable[..., Any]:
    async def dependency(
        request: Request, authorization: Annotated[str | None, Header()] = None
    ) -> Credential:
        credential = await _credential(request, authorization)
        if credential.kind is not kind:
            raise ApiError(403, f"this endpoint needs a {kind.value} token")
        return credential

    return dependency


Tenant = Annotated[Credential, Depends(requires(Kind.TENANT))]
HostCred = Annotated[Credential, Depends(requires(Kind.HOST))]
Operator = Annotated[Credential, Depends(requires(Kind.OPERATOR))]
Plane = Annotated[ControlPlane, Depends(plane_dependency)]


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": " ".join(message.split())}, status_code=status)


def validation_message(errors: Sequence[Any]) -> str:
    """A request body's first validation error, in one line: `field: what is wrong`."""
    first = errors[0] if errors else {}
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "request"
    return f"{where}: {first.get('msg', 'invalid request')}"


def error_answer(error: Exception) -> tuple[int, str]:
    """The status and one-line message the API answers an exception with. Unexpected ones are
    a 500 "internal error", logged by type only: their messages may carry request data."""
    if isinstance(error, ApiError):
        return error.status, error.message
    if isinstance(error, ElsewhereError):  # VerificationFailed included: unusable input
        return 400, error.message
    if isinstance(error, StarletteHTTPException):
        return error.status_code, str(error.detail)
    if isinstance(error, RequestValidationError):
        return 422, validation_message(error.errors())
    log.error("internal error: %s", type(error).__name__)
    return 500, "internal error"


def install_error_handlers(app: FastAPI) -> None:
    async def _answer(_: Request, error: Exception) -> JSONResponse:
        return _error(*error_answer(error))

    for kind in (
        ApiError,
        ElsewhereError,
        StarletteHTTPException,
        RequestValidationError,
        Exception,
    ):
        app.add_exception_handler(kind, _answer)
