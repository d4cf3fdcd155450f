"""The HTTP protocol that sends a response's head and body in one write (control/httpwrite.py):
the held head on its own, and whole responses over real loopback HTTP, including those with no
body behind the head (HEAD) and bodies sent in many parts."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from elsewhere.control.httpwrite import CoalescingHttpTools, _HeldHead
from elsewhere.control.server import free_port
from waits import join, remaining, wait_for

HEAD = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n"


class Recording:
    """A transport that records what is written to it."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = self.aborted = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def close(self) -> None:
        self.closed = True

    def write_eof(self) -> None:
        self.writes.append(b"<eof>")

    def abort(self) -> None:
        self.aborted = True

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 1) if name == "peername" else default


def held(body: Any) -> Any:
    async def run() -> Any:
        transport = Recording()
        wrapper: Any = _HeldHead(transport, asyncio.get_running_loop())  # type: ignore[arg-type]
        return await body(transport, wrapper)

    return asyncio.run(run())


def test_head_and_body_go_out_in_one_write() -> None:
    async def body(transport: Recording, wrapper: Any) -> None:
        wrapper.write(HEAD)
        assert transport.writes == []
        assert wrapper.get_write_buffer_size() == len(HEAD)
        wrapper.write(b"hello")
        assert transport.writes == [HEAD + b"hello"]
        await asyncio.sleep(0)  # the scheduled flush finds nothing held
        assert transport.writes == [HEAD + b"hello"]

    held(body)


def test_a_head_alone_goes_out_on_the_next_turn_of_the_loop() -> None:
    async def body(transport: Recording, wrapper: Any) -> None:
        wrapper.write(HEAD)
        await asyncio.sleep(0)
        assert transport.writes == [HEAD]

    held(body)


def test_other_writes_pass_straight_through() -> None:
    async def body(transport: Recording, wrapper: Any) -> None:
        wrapper.write(b"5\r\nhello\r\n")  # a chunk, not a head
        wrapper.writelines([b"0\r\n", b"\r\n"])
        assert transport.writes == [b"5\r\nhello\r\n", b"0\r\n\r\n"]
        assert wrapper.get_extra_info("peername") == ("127.0.0.1", 1)  # the rest is forwarded

    held(body)


def test_close_sends_what_is_held_and_abort_drops_it() -> None:
    async def body(transport: Recording, wrapper: Any) -> None:
        wrapper.write(HEAD)
        wrapper.write_eof()
        wrapper.close()
        assert transport.writes == [HEAD, b"<eof>"] and transport.closed

    held(body)

    async def aborted(transport: Recording, wrapper: Any) -> None:
        wrapper.write(HEAD)
        wrapper.abort()
        await asyncio.sleep(0)
        assert transport.writes == [] and transport.aborted

    held(aborted)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["path"] == "/parts":  # a body in many parts, larger than a socket buffer
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for _ in range(64):
            await send({"type": "http.response.body", "body": b"x" * 65536, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return
    body = b"hello"
    if scope["method"] == "POST":  # echo the request's body
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
    headers = [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


WRITES: list[bytes] = []  # what uvicorn's protocol wrote to the real transport, in order


class _Counted:
    def __init__(self, transport: Any) -> None:
        self._transport = transport

    def write(self, data: bytes) -> None:
        WRITES.append(bytes(data))
        self._transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CountedWrites(CoalescingHttpTools):
    """The protocol under test, over a transport that records each write it is given."""

    def connection_made(self, transport: Any) -> None:
        super().connection_made(_Counted(transport))


@pytest.fixture
def port() -> Iterator[int]:
    chosen = free_port()
    WRITES.clear()
    config = uvicorn.Config(
        app, http=CountedWrites, port=chosen, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started or not thread.is_alive(), every=0.01)
    assert server.started, "test server did not start"
    try:
        yield chosen
    finally:
        server.should_exit = True
        join(thread)


def request(port: int, head: bytes) -> bytes:
    """Everything the server sends until it closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=remaining()) as sock:
        sock.sendall(head + b"Host: t\r\nConnection: close\r\n\r\n")
        chunks = []
        while chunk := sock.recv(1 << 20):
            chunks.append(chunk)
    return b"".join(chunks)


def test_an_answer_is_one_write(port: int) -> None:
    everything = request(port, b"GET /hello HTTP/1.1\r\n")
    assert everything.startswith(b"HTTP/1.1 200 OK\r\n") and everything.endswith(b"\r\n\r\nhello")
    assert [everything] == WRITES  # uvicorn alone writes the head and the body apart


def test_a_head_request_is_answered(port: int) -> None:
    everything = request(port, b"HEAD /hello HTTP/1.1\r\n")
    assert everything.startswith(b"HTTP/1.1 200 OK\r\n") and everything.endswith(b"\r\n\r\n")


def test_a_body_in_many_parts_arrives_whole(port: int) -> None:
    everything = request(port, b"GET /parts HTTP/1.1\r\n")
    head, body = everything.split(b"\r\n\r\n", 1)
    assert b"transfer-encoding: chunked" in head
    assert body.count(b"x" * 65536) == 64 and body.endswith(b"0\r\n\r\n")


def test_a_continue_goes_out_before_the_body_is_sent(port: int) -> None:
    """`Expect: 100-continue`: uvicorn writes the interim head when the app first reads the
    body, and the client sends the body only once it has that head."""
    with socket.create_connection(("127.0.0.1", port), timeout=remaining()) as sock:
        sock.sendall(
            b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
            b"Expect: 100-continue\r\nConnection: close\r\n\r\n"
        )
        interim = b""
        while not interim.endswith(b"\r\n\r\n"):
            interim += sock.recv(1)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"abcde")
        chunks = []
        while chunk := sock.recv(1 << 16):
            chunks.append(chunk)
    answer = b"".join(chunks)
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and answer.endswith(b"\r\n\r\nabcde")


def test_pipelined_requests_are_answered_in_order(port: int) -> None:
    first = b"GET /one HTTP/1.1\r\nHost: t\r\n\r\n"
    second = b"POST /two HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nConnection: close\r\n\r\nxyz"
    with socket.create_connection(("127.0.0.1", port), timeout=remaining()) as sock:
        sock.sendall(first + second)  # both in one segment: uvicorn answers one after the other
        chunks = []
        while chunk := sock.recv(1 << 16):
            chunks.append(chunk)
    answers = b"".join(chunks)
    assert answers.count(b"HTTP/1.1 200 OK\r\n") == 2
    assert answers.index(b"\r\n\r\nhello") < answers.index(b"\r\n\r\nxyz")
    assert len(WRITES) == 2 and b"".join(WRITES) == answers  # one write per answer
