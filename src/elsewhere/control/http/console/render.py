"""Pages as HTML: the Jinja2 templates (autoescaped), the headers every console answer carries,
and the one place where an error on a console page becomes an HTML page with its status.

Errors keep the API's mapping (http/errors.py `error_answer`): the same statuses and the same
one-line messages, rendered as a page instead of `{"error": …}`.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request, Response
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute

from elsewhere.control.http.errors import error_answer

HERE = Path(__file__).parent
STATIC = HERE / "static"
TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)

# Every asset is served by the console itself (no CDN); no inline script may run, no page
# may be framed, and no page is cached (they show a tenant's own data).
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

NAV_TENANT = (
    ("/ui/deployments", "Deployments"),
    ("/ui/hosts", "Hosts"),
    ("/ui/results", "Results"),
    ("/ui/ledger", "Ledger"),
    ("/ui/architecture", "Architecture"),
)
NAV_OPERATOR = (("/ui/operator", "Operator"), ("/ui/architecture", "Architecture"))


def page(
    request: Request,
    template: str,
    title: str,
    *,
    session: Any = None,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    kind = session.credential.kind.value if session is not None else None
    nav = NAV_OPERATOR if kind == "operator" else NAV_TENANT if kind else ()
    html = TEMPLATES.get_template(template).render(
        title=title, session=session, nav=nav, path=request.url.path, **context
    )
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def error_page(request: Request, error: Exception) -> HTMLResponse:
    status, message = error_answer(error)
    return page(
        request,
        "error.html",
        f"Error {status}",
        status=status,
        message=" ".join(message.split()),
        signin=status == 401,
    )


class ConsoleRoute(APIRoute):
    """A route whose errors answer as an HTML page (the API's routes answer JSON)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as error:  # every failure: its status and one line, as a page
                return error_page(request, error)

        return answer
