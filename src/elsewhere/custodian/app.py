"""The custodian's HTTP API (its own FastAPI app; errors answered by the one mapping of
elsewhere.control.http.errors, so a custodian and the control plane speak alike)."""

from __future__ import annotations

from typing import Annotated, Any

import anyio.to_thread
from fastapi import Body, FastAPI

from elsewhere import __version__
from elsewhere.control.http.errors import install_error_handlers
from elsewhere.custodian import witness
from elsewhere.custodian.service import Custodian

Doc = Annotated[dict[str, Any], Body()]


def create_app(c: Custodian) -> FastAPI:
    app = FastAPI(
        title=f"Elsewhere commons custodian {c.config.name}",
        version=__version__,
        description="Holds one share of each dataset key; releases it only to a keep it verified.",
        redirect_slashes=False,
    )
    install_error_handlers(app)
    run = anyio.to_thread.run_sync

    @app.get("/v1/custodian")
    async def info() -> dict[str, Any]:
        return c.info()

    @app.post("/v1/deposits")
    async def deposit(doc: Doc) -> dict[str, Any]:
        return await run(c.deposit, doc)

    @app.post("/v1/vetoes")
    async def veto(doc: Doc) -> dict[str, Any]:
        return await run(c.veto, doc)

    @app.post("/v1/vetoes/forwarded")
    async def forwarded_veto(doc: Doc) -> dict[str, Any]:
        return await run(c.forwarded_veto, doc)

    @app.post("/v1/vetoes/query")
    async def veto_query(doc: Doc) -> dict[str, Any]:
        return await run(c.veto_query, doc)

    @app.post("/v1/proposals/{proposal_id}/nonce")
    async def nonce(proposal_id: str) -> dict[str, Any]:
        return await run(c.nonce, proposal_id)

    @app.post("/v1/releases")
    async def release(doc: Doc) -> dict[str, Any]:
        return await run(c.release, doc)

    @app.post("/v1/outputs")
    async def output(doc: Doc) -> dict[str, Any]:
        return await run(c.output, doc)

    @app.get("/v1/budgets")
    async def budgets() -> list[dict[str, Any]]:
        return await run(c.budgets)

    @app.get("/v1/log/checkpoint")
    async def checkpoint() -> dict[str, Any]:
        return await run(witness.checkpoint, c)

    @app.get("/v1/log/entries")
    async def entries(start: int, end: int) -> dict[str, Any]:
        return await run(witness.entries, c, start, end)

    @app.get("/v1/log/consistency")
    async def consistency(old: int, new: int) -> dict[str, Any]:
        return await run(witness.consistency, c, old, new)

    @app.post("/v1/log/cosignatures")
    async def cosignatures(doc: Doc) -> dict[str, Any]:
        return await run(witness.keep_cosignatures, c, doc)

    @app.get("/v1/witness/{custodian}")
    async def witnessed(custodian: str) -> dict[str, Any]:
        return await run(witness.witnessed, c, custodian)

    @app.post("/v1/witness")
    async def cosign(doc: Doc) -> dict[str, Any]:
        return await run(witness.cosign, c, doc)

    return app
