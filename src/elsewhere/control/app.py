"""The HTTP API: a FastAPI application over one ControlPlane (OpenAPI at /openapi.json, /docs).

Every error answers `{"error": "<one line>"}`: 400 unusable input, 401 no valid token,
404 anything the caller may not see (another tenant's object looks exactly like a missing one),
409 a state conflict (used nonce, placement no longer assigned), 422 a malformed request body.
Unexpected failures answer 500 "internal error" and never echo request data (secrets).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import anyio.to_thread
from fastapi import FastAPI

from elsewhere import __version__
from elsewhere.control import api_host, api_tenant, maintenance
from elsewhere.control.config import ControlPlane
from elsewhere.control.fastpath import FastPath
from elsewhere.control.web import install_error_handlers

WORKER_THREADS = 6


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
    install_error_handlers(app)

    @app.get("/healthz", tags=["meta"])
    def healthz() -> dict[str, Any]:
        return {"ok": True, "version": __version__}

    @app.get("/.well-known/jwks.json", tags=["meta"])
    def jwks() -> dict[str, Any]:
        """The public key that signs attestation-result tokens."""
        return {"keys": [cp.signer.jwk]}

    app.include_router(api_host.router)
    app.include_router(api_tenant.router)
    return app


def create_asgi(cp: ControlPlane, *, background: bool = True) -> FastPath:
    """What the server runs: the hot calls answered by the ASGI front (control/fastpath.py),
    everything else by the FastAPI app; request bodies limited by the front."""
    return FastPath(create_app(cp, background=background), cp)
