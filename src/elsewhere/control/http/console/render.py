"""Pages as HTML: the Jinja2 templates (autoescaped), the headers every console answer carries,
and the one place where an error on a console page becomes an HTML page with its status.

Every word of a page is a message of the project's catalogue (elsewhere.i18n): the templates
use Jinja2's i18n extension (`_()` and `{% trans %}`, extracted by `make messages`), in the
language language.py chooses for the request; dates and numbers are formatted by Babel.

Errors keep the API's mapping (http/errors.py `error_answer`): the same statuses and the same
one-line messages, rendered as a page instead of `{"error": …}`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from babel.dates import format_datetime
from babel.numbers import format_decimal
from fastapi import Request, Response
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from markupsafe import Markup, escape

from elsewhere import i18n
from elsewhere.control.http.console.language import NAMES, request_language
from elsewhere.control.http.console.views import state_words
from elsewhere.control.http.errors import error_answer
from elsewhere.i18n import LANGUAGES, LOCALES, N_, _, current, localize, using

HERE = Path(__file__).parent
STATIC = HERE / "static"
TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    extensions=["jinja2.ext.i18n"],
)
# Whitespace inside {% trans %} is collapsed, as babel.cfg extracts it (`trimmed = true`).
TEMPLATES.policies["ext.i18n.trimmed"] = True
# The catalogue's functions read the request's language (a context variable) when called.
TEMPLATES.install_gettext_callables(  # type: ignore[attr-defined]
    gettext=i18n._, ngettext=i18n.ngettext, newstyle=True
)


def when(iso: object) -> Markup:
    """A time from the store, for the reader's locale (CLDR medium form, UTC), in a <time>
    element that keeps the ISO 8601 text; what is not a time is shown as it is."""
    text = str(iso or "")
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return escape(text)
    utc = moment.astimezone(dt.UTC) if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    shown = format_datetime(utc, format="medium", tzinfo=dt.UTC, locale=LOCALES[current()])
    return Markup('<time datetime="{}">{} UTC</time>').format(utc.isoformat(), shown)


def num(value: int) -> str:
    return format_decimal(value, locale=LOCALES[current()])


TEMPLATES.filters["when"] = when
TEMPLATES.filters["num"] = num
TEMPLATES.globals["state"] = state_words
TEMPLATES.globals["localize"] = localize  # English text produced elsewhere (reasons, notes)

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
    ("/ui/deployments", N_("Deployments")),
    ("/ui/hosts", N_("Hosts")),
    ("/ui/results", N_("Results")),
    ("/ui/ledger", N_("Ledger")),
    ("/ui/architecture", N_("Architecture")),
)
NAV_OPERATOR = (("/ui/operator", N_("Operator")), ("/ui/architecture", N_("Architecture")))


def switches(request: Request) -> list[tuple[str, str, str]]:
    """The language switch: (language, its own name, the link that picks it and comes back)."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    back = quote(here, safe="/")
    return [(lang, NAMES[lang], f"/ui/language/{lang}?next={back}") for lang in LANGUAGES]


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
        title=title,
        session=session,
        nav=nav,
        path=request.url.path,
        lang=current(),
        languages=switches(request),
        **context,
    )
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def error_page(request: Request, error: Exception) -> HTMLResponse:
    status, message = error_answer(error)
    return page(
        request,
        "error.html",
        _("Error {status}").format(status=status),
        status=status,
        message=" ".join(message.split()),
        signin=status == 401,
    )


class ConsoleRoute(APIRoute):
    """A route whose errors answer as an HTML page (the API's routes answer JSON)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            with using(request_language(request)):  # this request's context only
                try:
                    return await handler(request)
                except Exception as error:  # every failure: its status and one line, as a page
                    return error_page(request, error)

        return answer
