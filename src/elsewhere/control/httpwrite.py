"""uvicorn's HTTP protocol, with each response's head and body sent in ONE write.

uvicorn writes a response's head when the app sends `http.response.start`, and its body on
`http.response.body`: two `send` system calls per response, and on loopback the client wakes
twice to read one answer. Here the head is held until the body's write that follows it in the
same step of the event loop (uvicorn writes the body, even an empty one, unless the request
was a HEAD); both then go out together. A head with no body behind it (HEAD, or an app that
awaits between the two messages) is sent by a callback scheduled when it was held, so nothing
waits for a later write. Closing or aborting sends or drops what is held as the transport
itself would.

Nothing else changes: uvicorn's parser, flow control, keep-alive and timeouts are its own; the
protocol only wraps the transport it is given (`uvicorn.Config(http=CoalescingHttpTools)`).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class _HeldHead:
    """A transport that holds one write (the response head) until the next write or the next
    turn of the event loop, whichever comes first."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._held is not None:
            data, self._held = self._held + bytes(data), None
            self._transport.write(data)
        elif data[:5] == b"HTTP/" and data[-4:] == b"\r\n\r\n":  # a response head
            self._held = bytes(data)
            self._loop.call_soon(self.flush)
        else:
            self._transport.write(data)

    def flush(self) -> None:
        if self._held is not None:
            data, self._held = self._held, None
            if not self._transport.is_closing():
                self._transport.write(data)

    def writelines(self, chunks: Any) -> None:
        self.write(b"".join(chunks))

    def get_write_buffer_size(self) -> int:
        held = len(self._held) if self._held is not None else 0
        return held + self._transport.get_write_buffer_size()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._held = None
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:  # is_closing, pause_reading, get_extra_info, …
        return getattr(self._transport, name)


class CoalescingHttpTools(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        held: Any = _HeldHead(transport, self.loop)
        super().connection_made(held)
