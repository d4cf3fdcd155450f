"""The ONE place where errors become HTTP answers: `{"error": "<one line>"}` and a status.

The line is in the request's language (`Accept-Language`, set per request by http/limits.py);
statuses, and every other field of every answer, are the same in each language.

Services raise by meaning (elsewhere.errors); this table says what each meaning is over HTTP.
Unexpected errors answer 500 "internal error" and are logged by type only: their messages may
carry request data (a secret's value).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from elsewhere.errors import (
    Conflict,
    ElsewhereError,
    Forbidden,
    NotFound,
    TooLarge,
    Unauthenticated,
)
from elsewhere.i18n import _, localize

log = logging.getLogger("elsewhere.control")

# First match wins: subclasses before ElsewhereError, which is unusable input (400),
# VerificationFailed included.
STATUSES: tuple[tuple[type[ElsewhereError], int], ...] = (
    (Unauthenticated, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),
    (TooLarge, 413),
    (ElsewhereError, 400),
)


def validation_message(errors: Sequence[Any]) -> str:
    """A request body's first validation error, in one line: `field: what is wrong`."""
    first = errors[0] if errors else {}
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "request"
    return f"{where}: {first.get('msg', _('invalid request'))}"


def error_answer(error: Exception) -> tuple[int, str]:
    """The status and one-line message the API answers an exception with."""
    if isinstance(error, ElsewhereError):
        status = next(code for kind, code in STATUSES if isinstance(error, kind))
        return status, localize(error.message)
    if isinstance(error, StarletteHTTPException):
        return error.status_code, localize(str(error.detail))
    if isinstance(error, RequestValidationError):
        return 422, validation_message(error.errors())
    if isinstance(error, UnicodeEncodeError):  # backstop for limits.bad_escape's scan
        return 400, _("request: a string holds a lone surrogate (not Unicode)")
    if isinstance(error, OperationalError):  # the store is down, or a statement timed out
        log.error("database error: %s", type(error.orig).__name__)
        return 503, _("database unavailable or too slow (statement timed out); try again")
    log.error("internal error: %s", type(error).__name__)
    return 500, _("internal error")


def error_response(error: Exception) -> JSONResponse:
    status, message = error_answer(error)
    return JSONResponse({"error": " ".join(message.split())}, status_code=status)


def install_error_handlers(app: FastAPI) -> None:
    async def _answer(_: Request, error: Exception) -> JSONResponse:
        return error_response(error)

    for kind in (ElsewhereError, StarletteHTTPException, RequestValidationError, Exception):
        app.add_exception_handler(kind, _answer)
