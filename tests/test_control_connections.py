"""Connection bounds the server enforces itself (#21, 8), on real loopback sockets: the
connection cap and the keep-alive timeout. Header and body read timeouts are the reverse
proxy's (docs/control-plane.md, "The edge"): uvicorn has none to set."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from pathlib import Path

from elsewhere.control.config import ControlConfig, ControlPlane
from elsewhere.control.serve.edge import KEEP_ALIVE_SECONDS
from elsewhere.control.serve.server import ThreadedServer
from waits import remaining, wait_for

HEALTH = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"


@contextlib.contextmanager
def server(tmp: Path, max_connections: int) -> Iterator[ThreadedServer]:
    cp = ControlPlane.open(ControlConfig.for_dir(tmp / "cp", None, trust_emulated=True))
    try:
        with ThreadedServer(cp, max_connections=max_connections) as running:
            yield running
    finally:
        cp.close()


def connect(running: ThreadedServer) -> socket.socket:
    sock = socket.create_connection((running.host, running.port), timeout=remaining())
    sock.settimeout(remaining())
    return sock


def answer(sock: socket.socket) -> bytes:
    """What the server sends until it closes the socket (recv returning b"")."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def test_beyond_the_connection_cap_a_request_is_refused_and_closed(tmp_path: Path) -> None:
    with server(tmp_path, max_connections=3) as running:
        idle = [connect(running) for _ in range(3)]  # silent clients, holding their sockets
        try:
            wait_for(lambda: len(running.server.server_state.connections) >= 3)
            with connect(running) as extra:
                extra.sendall(HEALTH)
                reply = answer(extra)
            assert reply.startswith(b"HTTP/1.1 503"), reply[:80]
        finally:
            for sock in idle:
                sock.close()


def test_an_idle_keep_alive_connection_is_closed(tmp_path: Path) -> None:
    assert KEEP_ALIVE_SECONDS <= 10  # the test waits this long for the server to close
    with server(tmp_path, max_connections=8) as running, connect(running) as sock:
        sock.sendall(HEALTH)
        reply = answer(sock)  # returns once the server closes the idle connection
        assert reply.startswith(b"HTTP/1.1 200"), reply[:80]
