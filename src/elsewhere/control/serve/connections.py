"""uvicorn's own HTTP protocol, with a deadline for each request head (#21, 8).

The protocol object uvicorn creates for each connection is uvicorn's (httptools or h11, as it
chooses), held inside `HeadDeadline` rather than subclassed: everything it receives is passed
through, and the only thing added is a timer that closes a connection whose request head has
not arrived in time (control/http/deadlines.py says when one has).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.config import HTTP_PROTOCOLS
from uvicorn.importer import import_from_string

from elsewhere.control.http import deadlines
from elsewhere.control.http.deadlines import OPEN, Peer, peer_of

_INNER: type[asyncio.Protocol] = import_from_string(HTTP_PROTOCOLS["auto"])


def timed_out(seconds: float) -> bytes:
    """The whole answer to a head that did not arrive: a 408 with the one-line error."""
    body = json.dumps({"error": f"request head not received within {seconds:g} s"}).encode()
    return (
        b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
        b"connection: close\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
    )


class HeadDeadline(asyncio.Protocol):
    """What `uvicorn.Config(http=HeadDeadline)` creates for each connection."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.inner: Any = _INNER(*args, **kwargs)
        self.loop = kwargs.get("_loop") or asyncio.get_event_loop()
        self.transport: Any = None
        self.peer: Peer | None = None
        self.timer: asyncio.TimerHandle | None = None

    # -- what the application side calls (control/http/deadlines.Connection) --------------
    def request_started(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def response_ended(self) -> None:
        self._arm()

    # -- the protocol interface, passed through ------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # uvloop's transports are not asyncio.Transport subclasses
        self.peer = peer_of(transport.get_extra_info("peername"))
        if self.peer is not None:
            OPEN[self.peer] = self
            self._arm()
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        result: bool | None = self.inner.eof_received()
        return result

    def connection_lost(self, exc: Exception | None) -> None:
        self.request_started()  # cancels the timer
        if self.peer is not None and OPEN.get(self.peer) is self:
            del OPEN[self.peer]
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    def __getattr__(self, name: str) -> Any:  # uvicorn's shutdown reads the inner's attributes
        return getattr(self.inner, name)

    def _arm(self) -> None:
        self.request_started()
        self.timer = self.loop.call_later(deadlines.HEAD_SECONDS, self._expired)

    def _expired(self) -> None:
        self.timer = None
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(timed_out(deadlines.HEAD_SECONDS))
            self.transport.close()
