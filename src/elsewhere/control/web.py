"""Request plumbing shared by the routers: the one-line JSON error, the ControlPlane, and
bearer-token authentication by credential kind (tenant, host, operator)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from elsewhere.control.auth import Credential, Kind, authenticate, hash_token
from elsewhere.control.config import ControlPlane
from elsewhere.control.db import read
from elsewhere.errors import ElsewhereError, VerificationFailed

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
    if not authorization or not authorization.startswith("Bearer "):
        raise ApiError(401, "missing bearer token (Authorization: Bearer <token>)")
    cp, token = plane(request), authorization[7:].strip()
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


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(_: Request, error: ApiError) -> JSONResponse:
        return _error(error.status, error.message)

    @app.exception_handler(VerificationFailed)
    async def _refused(_: Request, error: VerificationFailed) -> JSONResponse:
        return _error(400, error.message)

    @app.exception_handler(ElsewhereError)
    async def _input(_: Request, error: ElsewhereError) -> JSONResponse:
        return _error(400, error.message)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, error: StarletteHTTPException) -> JSONResponse:
        return _error(error.status_code, str(error.detail))

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0] if error.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "request"
        return _error(422, f"{where}: {first.get('msg', 'invalid request')}")

    @app.exception_handler(Exception)
    async def _internal(_: Request, error: Exception) -> JSONResponse:
        # Only the exception type is logged: messages may carry request data.
        log.error("internal error: %s", type(error).__name__)
        return _error(500, "internal error")
