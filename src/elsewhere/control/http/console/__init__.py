"""The web console at /ui: server-rendered pages (Jinja2) over the same control plane and the
same credentials as the API, with a little plain JavaScript that checks ledger proofs in the
browser. See docs/console.md for what it shows and what it does not protect."""

from __future__ import annotations

from fastapi import APIRouter

from elsewhere.control.http.console import pages, signin

router = APIRouter()
router.include_router(signin.router)
router.include_router(pages.router)  # last: it ends with the catch-all "no such page"

__all__ = ["router"]
