"""A request id on every answer and every log line (pure ASGI, outermost).

A client's `X-Request-ID` is kept when well formed (1-64 of letters, digits and `._:-`: what
proxies and tracing systems send), else a fresh one is made; the answer carries it back, and
every log line written while the request is handled shows it (`RequestIdFilter`).

A request id correlates log lines; it is no secret and grants nothing (a client may choose its
own). So a fresh one comes from a per-process PRNG seeded once from the OS, not from
`secrets`: `os.urandom` releases the GIL, and on the event loop, while the request threads
verify evidence, taking it back cost each request up to a GIL switch interval (5 ms) of the
loop (measured: docs/control-plane.md, Performance).
"""

from __future__ import annotations

import contextvars
import logging
import os
import random
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

HEADER = b"x-request-id"
WELL_FORMED = re.compile(rb"[A-Za-z0-9._:-]{1,64}")
NO_REQUEST = "-"  # what a log line outside any request shows

current: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default=NO_REQUEST)

_ids = random.Random(os.urandom(16))
# A forked child must not repeat its parent's ids.
os.register_at_fork(after_in_child=lambda: _ids.seed(os.urandom(16)))


def request_id(headers: list[tuple[bytes, bytes]]) -> str:
    """The client's id when well formed, else a new random one (16 hex digits)."""
    for name, value in headers:
        if name == HEADER and WELL_FORMED.fullmatch(value):
            return value.decode("ascii")
    return f"{_ids.getrandbits(64):016x}"


class RequestIds:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id(scope.get("headers", []))
        token = current.set(rid)

        async def tagged(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0].lower() != HEADER]
                message = {**message, "headers": [*headers, (HEADER, rid.encode("ascii"))]}
            await send(message)

        try:
            await self.app(scope, receive, tagged)
        finally:
            current.reset(token)


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every record (the formatter of control/serve/edge.py shows it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current.get()
        return True
