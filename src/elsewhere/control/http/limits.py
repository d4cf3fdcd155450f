"""What every request is checked for before any route sees it (pure ASGI, in front of the app):
no control character in its path or query, a body no longer than the limit of its route, and
an unexpected error answered in one line rather than re-raised to uvicorn (whose traceback
would print the exception's message, which may carry request data such as a secret).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import unquote_to_bytes

from starlette.exceptions import HTTPException as StarletteHTTPException

from elsewhere.control.http.errors import error_answer
from elsewhere.control.tenancy.workloads import MAX_WASM_BYTES
from elsewhere.errors import ElsewhereError, InputError, TooLarge
from elsewhere.i18n import negotiate, using

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# An attest request carries evidence and its certificates in base64: a few KiB for SEV-SNP
# (report and VCEK chain), up to tens of KiB for a TDX quote with its PCK chain or Azure's HCL.
MAX_BODY = 1 << 20
# Any other request: the largest legitimate body is a workload upload (raw bytes).
MAX_API_BODY = MAX_WASM_BYTES + 4096
_HOT = re.compile(r"^/v1/placements/[^/]+/(nonce|attest)$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_BYTES = re.compile(rb"[\x00-\x1f\x7f]")
# Bodies taken as raw bytes (a module, a secret's value): any byte is theirs to hold.
_RAW = re.compile(r"^/v1/(workloads|secrets/[^/]+)$")
# A JSON (or TOML) escape that decodes to what no stored text may hold: a lone UTF-16
# surrogate (no UTF-8 form: encoding it for the store raised, a 500) or NUL (PostgreSQL text
# cannot hold one). Only an escape preceded by an even number of backslashes is one.
_ESCAPE_HINT = re.compile(rb"\\u(?:[dD][89a-fA-F]|0000)")
_BAD_ESCAPE = re.compile(
    rb"(?<!\\)(?:\\\\)*(\\u0000|\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F])"
    rb"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2})"
)


def body_limit(method: str, path: str) -> int:
    return MAX_BODY if method == "POST" and _HOT.match(path) else MAX_API_BODY


class RequestLimits:
    """`RequestLimits(app)` is the ASGI application the server runs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with using(_language(scope)):  # this request's context only (a context variable)
            await self._limited(scope, receive, send)

    async def _limited(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            refused = control_character(scope["path"], scope.get("query_string", b""))
            if refused:
                raise ElsewhereError(refused)
            limit = body_limit(scope["method"], scope["path"])
            _check_length(scope, limit)
            counted = _counted(receive, limit)
            if scope["method"] in ("POST", "PUT", "PATCH") and not _RAW.match(scope["path"]):
                counted = await _checked(counted)
            await self.app(scope, counted, tracked)
        except Exception as error:
            if not started:
                await send_error(send, error)


def _language(scope: Scope) -> str:
    """The language of error messages, from the request's first Accept-Language header."""
    for name, value in scope["headers"]:
        if name == b"accept-language":
            return negotiate(value.decode("latin-1"))
    return negotiate(None)


def _too_large(limit: int) -> TooLarge:
    return TooLarge(f"request body larger than {limit} bytes")


def _check_length(scope: Scope, limit: int) -> None:
    """The declared length, checked before the body is read."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            if not value.isdigit():
                raise InputError("Content-Length", "", "not a number")
            if int(value) > limit:
                raise _too_large(limit)


def _counted(receive: Receive, limit: int) -> Receive:
    """`receive` counting the bytes as they come (a chunked body has no declared length); too
    many raise 413 inside the app, whose error handler answers it in one line. An HTTP
    exception, because FastAPI turns any other error while reading a body into a 400."""
    size = 0

    async def counted() -> Message:
        nonlocal size
        message = await receive()
        size += len(message.get("body", b""))
        if size > limit:
            raise StarletteHTTPException(413, _too_large(limit).message)
        return message

    return counted


async def _checked(receive: Receive) -> Receive:
    """The whole body read (bounded by `_counted`), refused if it escapes a lone surrogate or
    NUL, then handed to the app as one message: one check for every route's body."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    refused = bad_escape(body)
    if refused:
        raise ElsewhereError(refused)
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()  # the disconnect, once the app waits for it
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def bad_escape(body: bytes) -> str | None:
    """Why a body is refused, if a string in it escapes a lone surrogate or NUL."""
    if not _ESCAPE_HINT.search(body):
        return None  # the common case: one scan for a rare prefix
    found = _BAD_ESCAPE.search(body)
    if found is None:
        return None
    escape = found.group(1).decode()
    why = "NUL, which no stored text holds" if escape == "\\u0000" else "a lone surrogate"
    return f"request body: {escape} at byte {found.start(1)} escapes {why}"


def control_character(path: str, query: bytes) -> str | None:
    """Why the request's path or query is refused, if it holds a control character: no id or
    name has one, and PostgreSQL cannot even compare text holding a NUL (it raised, and the
    answer was a 500)."""
    found = _CONTROL.search(path)
    if found:
        return (
            f"request path: control character {found.group()!r} at offset {found.start()}; "
            "no id or name contains one"
        )
    if query:
        decoded = unquote_to_bytes(query.replace(b"+", b" "))
        hit = _CONTROL_BYTES.search(decoded)
        if hit:
            return (
                f"query string: control character {hit.group()!r} at offset {hit.start()} "
                "(decoded); no parameter contains one"
            )
    return None


async def send_error(send: Send, error: Exception) -> None:
    """`error` answered in one line, with the status of the one mapping (http/errors.py)."""
    status, message = error_answer(error)
    content = json.dumps({"error": " ".join(message.split())}, separators=(",", ":")).encode()
    await send_json(send, status, content)


async def send_json(send: Send, status: int, content: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(content))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": content})
