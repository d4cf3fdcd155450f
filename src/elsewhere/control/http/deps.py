"""Request dependencies shared by the routers: the ControlPlane, bearer-token authentication by
credential kind (tenant, host, operator), and the bounded thread pool blocking work runs on."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Header, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from elsewhere.control.config import ControlPlane
from elsewhere.control.store.transactions import read
from elsewhere.control.tenancy.auth import Credential, Kind, authenticate, hash_token
from elsewhere.errors import Forbidden, Unauthenticated
from elsewhere.i18n import N_

log = logging.getLogger("elsewhere.control")
T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

# Threads for sync (`def`) routes (anyio's limiter, set in app.py): beyond a few they only
# contend for the GIL; a request past the limit waits for a free thread, and the event loop
# stays free (for /healthz, and for answers whose work is done).
WORKER_THREADS = 6
# Threads for the blocking part of the async routes (`blocking`: the attest-and-release calls,
# the commons): their work is CPU under the GIL (verification, wrapping) and short reads, so a
# third thread would only add GIL hand-offs: with 6, a two-worker server under load left a
# fifth of its CPU idle between hand-offs (bench/RESULTS.md, 2026-12-07); with 2, one slow
# statement (bounded by the statement timeout) still leaves a thread for the others.
REQUEST_THREADS = 2


def plane(request: Request) -> ControlPlane:
    cp: ControlPlane = request.app.state.plane
    return cp


async def plane_dependency(request: Request) -> ControlPlane:
    """`plane` as a dependency; async, so FastAPI does not send it to a worker thread."""
    return plane(request)


def request_threads() -> ThreadPoolExecutor:
    """The app's bounded pool for blocking request work: REQUEST_THREADS threads, a request
    past them queued. A plain executor rather than anyio's thread limiter: the same bound, and
    in a same-run A/B about 9 % less server CPU per attest-and-release (no cancel scope,
    capacity-limiter bookkeeping or per-call worker lookup on each hop)."""
    return ThreadPoolExecutor(REQUEST_THREADS, thread_name_prefix="elsewhere-request")


async def run_blocking(threads: Executor, function: Callable[..., T], *args: Any) -> T:
    """`function(*args)` on one of `threads` (the app's); the event loop stays free."""
    return await asyncio.get_running_loop().run_in_executor(threads, function, *args)


async def blocking(request: Request, function: Callable[..., T], *args: Any) -> T:
    """`function(*args)` on one of the app's request threads."""
    threads: Executor = request.app.state.threads
    return await run_blocking(threads, function, *args)


AUTH_CACHE_SECONDS = 5.0  # a revoked token stops working within this time


def bearer(authorization: str | None) -> str:
    """The token of an Authorization header."""
    if not authorization or not authorization.startswith("Bearer "):
        raise Unauthenticated(N_("missing bearer token (Authorization: Bearer <token>)"))
    return authorization[7:].strip()


def cached_credential(cp: ControlPlane, token: str) -> Credential | None:
    """The token's credential if read less than AUTH_CACHE_SECONDS ago (no I/O)."""
    hit = cp.auth_cache.get(hash_token(token))
    return hit[0] if hit is not None and hit[1] > time.monotonic() else None


def look_up(cp: ControlPlane, token: str) -> Credential:
    """The token's credential, read from the store (blocking: on a worker thread) and cached."""
    with read(cp.engine) as conn:
        found = authenticate(conn, token)
    if found is None:
        raise Unauthenticated(N_("invalid or revoked token"))
    cache = cp.auth_cache
    if len(cache) > 10_000:
        cache.clear()
    cache[hash_token(token)] = (found, time.monotonic() + AUTH_CACHE_SECONDS)
    return found


def of_kind(found: Credential, kind: Kind) -> Credential:
    if found.kind is not kind:
        raise Forbidden(f"this endpoint needs a {kind.value} token")
    return found


async def credential(request: Request, authorization: str | None) -> Credential:
    """The credential of an Authorization header, from a short cache or the database."""
    cp = plane(request)
    token = bearer(authorization)
    found = cached_credential(cp, token)
    return found if found is not None else await blocking(request, look_up, cp, token)


async def host_credential(request: Request) -> Credential:
    """`HostCred` for the two calls of every attest-and-release, which declare no dependencies:
    the same check, without a dependency graph solved per request (docs/control-plane.md,
    Performance)."""
    return of_kind(await credential(request, request.headers.get("authorization")), Kind.HOST)


# How the routes that check `host_credential` themselves document it (the header `HostCred`
# declares, as FastAPI would list it).
HOST_TOKEN_DOC: dict[str, Any] = {
    "name": "authorization",
    "in": "header",
    "required": False,
    "schema": {"anyOf": [{"type": "string"}, {"type": "null"}], "title": "Authorization"},
}


def parsed(model: type[M], body: bytes) -> M:
    """`body` read as `model`, refused as FastAPI refuses a declared body (422, same shape),
    for the routes that read their body themselves (on a request thread, off the loop)."""
    try:
        return model.model_validate_json(body)
    except ValidationError as error:
        errors = error.errors(include_url=False, include_context=False)
        raise RequestValidationError([e | {"loc": ("body", *e["loc"])} for e in errors]) from None


def requires(kind: Kind) -> Callable[..., Any]:
    async def dependency(
        request: Request, authorization: Annotated[str | None, Header()] = None
    ) -> Credential:
        return of_kind(await credential(request, authorization), kind)

    return dependency


Tenant = Annotated[Credential, Depends(requires(Kind.TENANT))]
HostCred = Annotated[Credential, Depends(requires(Kind.HOST))]
Operator = Annotated[Credential, Depends(requires(Kind.OPERATOR))]
Plane = Annotated[ControlPlane, Depends(plane_dependency)]
