"""ASGI front of the control plane: the calls every attest-and-release makes, answered without
FastAPI's per-request machinery; every other request goes to the FastAPI app unchanged.

    POST /v1/placements/{id}/nonce    → attest.issue_nonce
    POST /v1/placements/{id}/attest   → attest.decide, then the group commit, awaited
    GET  /healthz                     → the same answer as the documented route

Why: on a 2-core machine each request through FastAPI's middleware, routing and dependency
resolution, plus a hop to a worker thread and back, cost about 0.4 ms of CPU, where uvicorn
itself needs about 0.05 ms (docs/control-plane.md, Performance). Here the work runs on the
event loop: the reads are short, verification and wrapping are CPU work that the GIL would
serialise on a worker thread anyway, and the only wait — the commit's fsync — is awaited on
the committer's future, so no thread sits blocked per request.

The answers are the documented routes' answers: same statuses, same one-line errors
(`web.error_answer`), same bodies; the FastAPI routes stay as the API's documentation
(OpenAPI) and serve any request this front does not take. Bodies are limited here for every
request: a hot call's to `MAX_BODY`, any other to `MAX_API_BODY`; a longer one is refused with
413 (before reading when its declared length says so).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import unquote_to_bytes

from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from elsewhere import __version__
from elsewhere.control import attest as broker
from elsewhere.control.api_host import host_of
from elsewhere.control.auth import Kind
from elsewhere.control.config import ControlPlane
from elsewhere.control.web import ApiError, credential, error_answer, validation_message
from elsewhere.control.workloads import MAX_WASM_BYTES

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
_PREFIX = "/v1/placements/"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_BYTES = re.compile(rb"[\x00-\x1f\x7f]")
_JSON = [(b"content-type", b"application/json")]
_HEALTH = json.dumps({"ok": True, "version": __version__}, separators=(",", ":")).encode()


class FastPath:
    """`FastPath(app, cp)` is an ASGI application: the hot calls here, the rest to `app`."""

    def __init__(self, app: ASGIApp, cp: ControlPlane) -> None:
        self.app, self.cp = app, cp

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            method, path = scope["method"], scope["path"]
            refused = _control_character(path, scope.get("query_string", b""))
            if refused:
                await _send_error(send, ApiError(400, refused))
                return
            if method == "POST" and path.startswith(_PREFIX):
                placement_id, _, call = path[len(_PREFIX) :].partition("/")
                if placement_id and call in ("nonce", "attest"):
                    await self._hot(scope, receive, send, placement_id, call)
                    return
            elif method == "GET" and path == "/healthz":
                await _send(send, 200, _HEALTH)
                return
            try:
                receive = _limited(scope, receive, MAX_API_BODY)
            except (ApiError, StarletteHTTPException) as error:
                await _send_error(send, error)
                return
            await self._app(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _app(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The FastAPI app, whose unexpected errors end here. Starlette answers them 500 (and
        our handler logs their type) but then re-raises, and uvicorn would log the traceback
        with the exception's message, which may carry request data such as a secret."""
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as error:
            if not started:
                await _send_error(send, error)

    async def _hot(
        self, scope: Scope, receive: Receive, send: Send, placement_id: str, call: str
    ) -> None:
        try:
            body = await _body(scope, receive)
            answer = await (self._nonce if call == "nonce" else self._attest)(
                scope, placement_id, body
            )
        except Exception as error:
            await _send_error(send, error)
            return
        await _send(send, 200, json.dumps(answer, separators=(",", ":")).encode())

    async def _host(self, scope: Scope) -> str:
        authorization = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
                break
        cred = await credential(self.cp, authorization)
        if cred.kind is not Kind.HOST:
            raise ApiError(403, f"this endpoint needs a {Kind.HOST.value} token")
        host_id = self.cp.host_ids.get(cred.id)
        if host_id is None:
            host_id = await run_in_threadpool(host_of, self.cp, cred)
        return host_id

    async def _nonce(self, scope: Scope, placement_id: str, _: bytes) -> dict[str, Any]:
        host_id = await self._host(scope)
        return broker.issue_nonce(self.cp, placement_id, host_id)

    async def _attest(self, scope: Scope, placement_id: str, body: bytes) -> dict[str, Any]:
        host_id = await self._host(scope)
        try:
            request = broker.AttestRequest.model_validate_json(body)
        except ValidationError as error:
            raise ApiError(422, validation_message(error.errors())) from None
        release = broker.decide(self.cp, placement_id, host_id, request)
        index = await asyncio.wrap_future(self.cp.committer.submit(release.job, release.claims))
        return release.response(index)


def _too_large(limit: int) -> StarletteHTTPException:
    return StarletteHTTPException(413, f"request body larger than {limit} bytes")


def _check_length(scope: Scope, limit: int) -> None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            if not value.isdigit():
                raise ApiError(400, "Content-Length: not a number")
            if int(value) > limit:
                raise _too_large(limit)


def _control_character(path: str, query: bytes) -> str | None:
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


def _limited(scope: Scope, receive: Receive, limit: int) -> Receive:
    """`receive` for the FastAPI app: the declared length checked now, the bytes as they come
    (a chunked body has no declared length); too many raise 413 inside the app, whose error
    handler answers it in one line."""
    _check_length(scope, limit)
    size = 0

    async def counted() -> Message:
        nonlocal size
        message = await receive()
        size += len(message.get("body", b""))
        if size > limit:
            raise _too_large(limit)
        return message

    return counted


async def _body(scope: Scope, receive: Receive) -> bytes:
    _check_length(scope, MAX_BODY)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ApiError(400, "the client disconnected before the body was complete")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise _too_large(MAX_BODY)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _send_error(send: Send, error: Exception) -> None:
    status, message = error_answer(error)
    content = {"error": " ".join(message.split())}
    await _send(send, status, json.dumps(content, separators=(",", ":")).encode())


async def _send(send: Send, status: int, content: bytes) -> None:
    headers = [*_JSON, (b"content-length", str(len(content)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": content})
