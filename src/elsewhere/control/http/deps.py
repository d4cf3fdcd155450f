"""Request dependencies shared by the routers: the ControlPlane, bearer-token authentication by
credential kind (tenant, host, operator), and the bounded thread limiter blocking work runs on."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import anyio
import anyio.to_thread
from fastapi import Depends, Header, Request

from elsewhere.control.config import ControlPlane
from elsewhere.control.store.transactions import read
from elsewhere.control.tenancy.auth import Credential, Kind, authenticate, hash_token
from elsewhere.errors import Forbidden, Unauthenticated
from elsewhere.i18n import N_

log = logging.getLogger("elsewhere.control")
T = TypeVar("T")

# Threads for the blocking part of requests (database reads, verification, wrapping). Beyond a
# few they only contend for the GIL; a request past the limit waits for a free thread, and the
# event loop stays free (for /healthz, and for answers whose work is done).
WORKER_THREADS = 6


def plane(request: Request) -> ControlPlane:
    cp: ControlPlane = request.app.state.plane
    return cp


async def plane_dependency(request: Request) -> ControlPlane:
    """`plane` as a dependency; async, so FastAPI does not send it to a worker thread."""
    return plane(request)


async def blocking(request: Request, function: Callable[..., T], *args: Any) -> T:
    """`function(*args)` on a worker thread, under the app's limiter."""
    limiter: anyio.CapacityLimiter = request.app.state.limiter
    return await anyio.to_thread.run_sync(function, *args, limiter=limiter)


AUTH_CACHE_SECONDS = 5.0  # a revoked token stops working within this time


def _lookup(cp: ControlPlane, token: str) -> Credential | None:
    with read(cp.engine) as conn:
        return authenticate(conn, token)


async def credential(request: Request, authorization: str | None) -> Credential:
    """The credential of an Authorization header, from a short cache or the database."""
    if not authorization or not authorization.startswith("Bearer "):
        raise Unauthenticated(N_("missing bearer token (Authorization: Bearer <token>)"))
    cp = plane(request)
    token = authorization[7:].strip()
    cache = cp.auth_cache
    key, now = hash_token(token), time.monotonic()
    hit = cache.get(key)
    if hit is not None and hit[1] > now:
        return hit[0]
    found = await blocking(request, _lookup, cp, token)
    if found is None:
        raise Unauthenticated(N_("invalid or revoked token"))
    if len(cache) > 10_000:
        cache.clear()
    cache[key] = (found, now + AUTH_CACHE_SECONDS)
    return found


def requires(kind: Kind) -> Callable[..., Any]:
    async def dependency(
        request: Request, authorization: Annotated[str | None, Header()] = None
    ) -> Credential:
        found = await credential(request, authorization)
        if found.kind is not kind:
            raise Forbidden(f"this endpoint needs a {kind.value} token")
        return found

    return dependency


Tenant = Annotated[Credential, Depends(requires(Kind.TENANT))]
HostCred = Annotated[Credential, Depends(requires(Kind.HOST))]
Operator = Annotated[Credential, Depends(requires(Kind.OPERATOR))]
Plane = Annotated[ControlPlane, Depends(plane_dependency)]
