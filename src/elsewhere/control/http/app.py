"""The HTTP API: a FastAPI application over one ControlPlane (OpenAPI at /openapi.json, /docs).

Every error answers `{"error": "<one line>"}` (statuses: http/errors.py, the one mapping):
400 unusable input, 401 no valid token, 403 a token of the wrong kind, 404 anything the caller
may not see (another tenant's object looks exactly like a missing one), 409 a state conflict
(used nonce, placement no longer assigned), 413 a body over its limit, 422 a malformed request
body, 503 the database unavailable or a statement timed out. Unexpected failures answer 500
"internal error" and never echo request data (secrets).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.to_thread
from fastapi import FastAPI

from elsewhere import __version__
from elsewhere.control.config import ControlPlane
from elsewhere.control.http import commons_routes as api_commons
from elsewhere.control.http import host_routes as api_host
from elsewhere.control.http import tenant_routes as api_tenant
from elsewhere.control.http.deps import WORKER_THREADS
from elsewhere.control.http.errors import install_error_handlers
from elsewhere.control.http.limits import RequestLimits
from elsewhere.control.scheduling import maintenance


def create_app(cp: ControlPlane, *, background: bool = True) -> FastAPI:
    """The API over `cp`. With `background`, a task re-queues work of silent hosts, ends drain
    periods and schedules pending replicas every `maintenance_interval` seconds."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Request handlers run on worker threads; beyond a few, they only contend for the GIL.
        anyio.to_thread.current_default_thread_limiter().total_tokens = WORKER_THREADS
        task = asyncio.create_task(maintenance.loop(cp)) if background else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    app = FastAPI(
        title="Elsewhere control plane",
        version=__version__,
        description="Tenants, workloads, secrets, policy, hosts, attestation and release.",
        lifespan=lifespan,
        # A path that does not match is a 404 with a reason, never a redirect to a guess.
        redirect_slashes=False,
    )
    app.state.plane = cp
    app.state.limiter = anyio.CapacityLimiter(WORKER_THREADS)
    install_error_handlers(app)

    @app.get("/healthz", tags=["meta"])
    async def healthz() -> dict[str, Any]:  # on the event loop: answers while threads are busy
        return {"ok": True, "version": __version__}

    @app.get("/.well-known/jwks.json", tags=["meta"])
    def jwks() -> dict[str, Any]:
        """The public key that signs attestation-result tokens."""
        return {"keys": [cp.signer.jwk]}

    app.include_router(api_host.router)
    app.include_router(api_tenant.router)
    app.include_router(api_commons.router)
    return app


def create_asgi(cp: ControlPlane, *, background: bool = True) -> RequestLimits:
    """What the server runs: the FastAPI app behind the request checks (http/limits.py)."""
    return RequestLimits(create_app(cp, background=background))
