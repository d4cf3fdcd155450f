"""Read deadlines: a slow client (slow-loris) may not hold a connection open for free (#21, 8).

uvicorn times nothing until a request has been answered on a connection, so the two waits it
leaves open are bounded here, in every process the same:
- the request head: the connection's protocol (control/serve/connections.py) closes a
  connection whose next request head has not arrived HEAD_SECONDS after it opened or after its
  previous response, with a one-line 408; this module tells it when a head has arrived (the
  application is called) and when a response has ended;
- the request body: each part must arrive within BODY_IDLE_SECONDS of the previous one, or the
  request is answered 408 in one line.
The registry is per process (each worker has its own connections); a connection is known by
its peer address, which is also the ASGI scope's `client`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Protocol

from starlette.exceptions import HTTPException as StarletteHTTPException

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# A request head is a few hundred bytes: ten seconds is generous on any real link, and longer
# than the keep-alive wait (serve/edge.py), so an idle connection is uvicorn's to close first.
HEAD_SECONDS = 10.0
# A gap between two parts of a body (a module upload is up to 16 MiB, sent in parts).
BODY_IDLE_SECONDS = 10.0

Peer = tuple[str, int]
CLOSE = (b"connection", b"close")


class Connection(Protocol):
    """What a connection offers the application: stop or restart its head deadline."""

    def request_started(self) -> None: ...

    def response_ended(self) -> None: ...


# Open connections of this process, by peer address.
OPEN: dict[Peer, Connection] = {}


def peer_of(address: Any) -> Peer | None:
    """(host, port) of a peer address as asyncio or the ASGI scope gives it (IPv6 adds
    flow and scope ids); None for a Unix socket."""
    if isinstance(address, list | tuple) and len(address) >= 2:
        return (str(address[0]), int(address[1]))
    return None


class ReadDeadlines:
    """ASGI middleware: tells the connection when its request head has arrived and when its
    response has ended, and bounds the wait for each part of the body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        peer = peer_of(scope.get("client"))
        connection = OPEN.get(peer) if peer is not None else None
        if connection is not None:
            connection.request_started()
        body_done = timed_out = False

        async def timed_receive() -> Message:
            nonlocal body_done, timed_out
            if body_done:  # afterwards the app only waits for the disconnect: no deadline
                return await receive()
            try:
                async with asyncio.timeout(BODY_IDLE_SECONDS):
                    message = await receive()
            except TimeoutError:
                timed_out = True
                raise StarletteHTTPException(
                    408, f"request body: nothing arrived for {BODY_IDLE_SECONDS:g} s"
                ) from None
            body_done = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        async def tracked_send(message: Message) -> None:
            if timed_out and message["type"] == "http.response.start":
                # The rest of the body may still come: the connection cannot carry another
                # request, so the answer closes it.
                message = {**message, "headers": [*message.get("headers", []), CLOSE]}
            await send(message)
            ended = message["type"] == "http.response.body" and not message.get("more_body")
            if ended and connection is not None:
                connection.response_ended()

        await self.app(scope, timed_receive, tracked_send)
