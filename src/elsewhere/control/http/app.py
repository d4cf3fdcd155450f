"""The HTTP API: a FastAPI application over one ControlPlane (OpenAPI at /openapi.json; Swagger UI
at /docs and ReDoc at /redoc, served from local files (fastapi-offline): they work offline).

Every answer carries an `X-Request-ID` (http/requestid.py); `/metrics` answers Prometheus text
(http/metrics.py).

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
from fastapi_offline import FastAPIOffline

from elsewhere import __version__
from elsewhere.control.config import ControlPlane
from elsewhere.control.http import commons_routes as api_commons
from elsewhere.control.http import console
from elsewhere.control.http import health_routes as api_health
from elsewhere.control.http import host_routes as api_host
from elsewhere.control.http import ledger_routes as api_ledger
from elsewhere.control.http import tenant_routes as api_tenant
from elsewhere.control.http import vault_routes as api_vault
from elsewhere.control.http.deadlines import ReadDeadlines
from elsewhere.control.http.deps import WORKER_THREADS, request_threads
from elsewhere.control.http.errors import install_error_handlers
from elsewhere.control.http.limits import RequestLimits
from elsewhere.control.http.metrics import observe_commits
from elsewhere.control.http.metrics import router as metrics_router
from elsewhere.control.http.requestid import RequestIds
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
            app.state.threads.shutdown(wait=False)
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    app = FastAPIOffline(
        title="Elsewhere control plane",
        version=__version__,
        description="Tenants, workloads, secrets, policy, hosts, attestation and release.",
        lifespan=lifespan,
        # A path that does not match is a 404 with a reason, never a redirect to a guess.
        redirect_slashes=False,
        # FastAPI's native OpenTelemetry, which this project does not configure: when on, it
        # looked up the global tracer, meter and logger providers on every request (three
        # environment reads and provider checks per request, ~5 % of a nonce call's CPU).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.plane = cp
    app.state.threads = request_threads()
    install_error_handlers(app)

    @app.get("/healthz", tags=["meta"])
    async def healthz() -> dict[str, Any]:  # on the event loop: answers while threads are busy
        return {"ok": True, "version": __version__}

    @app.get("/.well-known/jwks.json", tags=["meta"])
    def jwks() -> dict[str, Any]:
        """The keys that sign attestation-result tokens: the current one first, then any
        older ones of a rotated key directory (tokens they signed still verify)."""
        return {"keys": cp.jwks()}

    app.include_router(api_health.router)
    app.include_router(api_host.router)
    app.include_router(api_tenant.router)
    app.include_router(api_ledger.router)
    app.include_router(metrics_router)
    observe_commits(cp)
    app.include_router(api_vault.router)
    app.include_router(console.router)  # the web console at /ui (docs/console.md)
    app.include_router(api_commons.router)
    return app


def create_asgi(cp: ControlPlane, *, background: bool = True) -> RequestIds:
    """What the server runs: the FastAPI app behind the request checks (http/limits.py), the
    read deadlines (http/deadlines.py) and the request ids (outermost, so that even a refused
    request's answer has one)."""
    return RequestIds(ReadDeadlines(RequestLimits(create_app(cp, background=background))))
