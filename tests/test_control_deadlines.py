"""Read deadlines (#21, 8): a client that sends its request head or body too slowly, or nothing
at all, is answered 408 in one line and its connection closed, instead of holding a socket for
as long as it likes (slow-loris). The deadlines are shortened for the test; each wait below is
on the socket (its answer, its close), under the one outer timeout."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from control_helpers import control_plane
from elsewhere.control.http import deadlines
from waits import remaining


@pytest.fixture(autouse=True)
def short_deadlines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deadlines, "HEAD_SECONDS", 0.5)
    monkeypatch.setattr(deadlines, "BODY_IDLE_SECONDS", 0.5)


def connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=remaining())


@contextlib.contextmanager
def raw(url: str) -> Iterator[socket.socket]:
    with connect(url) as sock:
        yield sock


def answer_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def one_line_error(answer: bytes, status: int) -> str:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split(b" ")[1] == str(status).encode(), answer[:200]
    error = json.loads(body)["error"]
    assert isinstance(error, str) and "\n" not in error
    return error


def test_a_connection_that_sends_nothing_is_closed(tmp_path: Path) -> None:
    with control_plane(tmp_path) as env, raw(env.url) as sock:
        error = one_line_error(answer_until_closed(sock), 408)
        assert error == "request head not received within 0.5 s"


def test_a_slow_loris_head_is_cut_off_while_others_are_served(tmp_path: Path) -> None:
    with control_plane(tmp_path) as env:
        closed: list[bytes] = []
        sockets = [connect(env.url) for _ in range(20)]
        stop = threading.Event()

        def trickle(sock: socket.socket) -> None:
            # One header byte at a time, never the blank line that ends the head.
            try:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                while not stop.wait(0.05):
                    sock.sendall(b"X")
            except OSError:  # the server closed it: what the test waits for
                return

        threads = [threading.Thread(target=trickle, args=(s,), daemon=True) for s in sockets]
        for thread in threads:
            thread.start()
        try:
            assert httpx.get(f"{env.url}/healthz", timeout=remaining()).status_code == 200
            for sock in sockets:
                closed.append(answer_until_closed(sock))
        finally:
            stop.set()
            for sock in sockets:
                sock.close()
        assert all(b" 408 " in answer.split(b"\r\n")[0] for answer in closed)


def test_a_kept_alive_connection_serves_several_requests(tmp_path: Path) -> None:
    with control_plane(tmp_path) as env, httpx.Client(timeout=remaining()) as http:
        for _ in range(5):
            assert http.get(f"{env.url}/healthz").status_code == 200


def test_a_body_that_stops_arriving_is_answered_408(tmp_path: Path) -> None:
    with control_plane(tmp_path) as env:
        tenant = env.tenant()
        token = tenant.http.headers["Authorization"]
        for path, kind in (("/v1/workloads", "application/wasm"), ("/v1/policy", "text/plain")):
            with raw(env.url) as sock:
                sock.sendall(
                    f"{'POST' if path.endswith('workloads') else 'PUT'} {path} HTTP/1.1\r\n"
                    f"Host: x\r\nAuthorization: {token}\r\nContent-Type: {kind}\r\n"
                    "Content-Length: 1000\r\n\r\n".encode()
                    + b"\0asm"
                )
                error = one_line_error(answer_until_closed(sock), 408)
                assert error == "request body: nothing arrived for 0.5 s"
