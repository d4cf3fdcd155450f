"""`serve --workers N` (control/serve/workers.py): a socket per worker spreads keep-alive
connections over the workers; a busy port is one line and exit 2; workers do not outlive their
supervisor, even one killed with SIGKILL."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from elsewhere.cli import main
from elsewhere.control.serve import workers
from elsewhere.control.serve.server import free_port
from elsewhere.control.serve.workers import Supervisor
from waits import OUTER_TIMEOUT, remaining, wait_for

pytestmark = pytest.mark.skipif(
    not hasattr(socket, "SO_REUSEPORT") or not Path("/proc/net/tcp").exists(),
    reason="needs Linux (SO_REUSEPORT, /proc)",
)


def _start(tmp_path: Path, port: int, workers: int) -> subprocess.Popen[bytes]:
    code = "from elsewhere.cli import main; raise SystemExit(main())"
    command = [sys.executable, "-c", code, "serve", "--data-dir", str(tmp_path / "cp")]
    command += ["--port", str(port), "--workers", str(workers)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _owners(port: int, state: str) -> dict[int, int]:
    """pid → how many of its TCP sockets on local `port` are in `state` (/proc/net/tcp: 01
    established, 0A listening)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == state:
            inodes.add(fields[9])
    owners: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            links = [os.readlink(fd) for fd in (entry / "fd").iterdir()]
        except OSError:
            continue
        count = sum(1 for link in links if link[8:-1] in inodes and link.startswith("socket:"))
        if count:
            owners[int(entry.name)] = count
    return owners


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=remaining())
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert sock.recv(4096).startswith(b"HTTP/1.1 200")
    return sock


def test_connections_spread_over_workers_and_workers_stop_with_a_killed_supervisor(
    tmp_path: Path,
) -> None:
    port = free_port()
    server = _start(tmp_path, port, workers=2)
    try:
        listeners = wait_for(lambda: len(_owners(port, "0A")) == 2 and _owners(port, "0A"))
        assert server.pid not in listeners  # the supervisor itself takes no connection
        connections = [_connect(port) for _ in range(32)]
        serving = _owners(port, "01")
        serving.pop(os.getpid(), None)  # our own client ends
        # A shared socket measured 31:1; per-worker sockets split by the connections' hash.
        assert set(serving) == set(listeners) and min(serving.values()) >= 4, serving
        for sock in connections:
            sock.close()
        server.send_signal(signal.SIGKILL)
        server.wait(remaining())
        # Orphaned workers notice (within a second, on a quiet machine) and stop serving.
        wait_for(lambda: not _owners(port, "0A"))
    finally:
        if server.poll() is None:
            server.kill()
        for pid in _owners(port, "0A"):
            os.kill(pid, signal.SIGKILL)


def test_sigterm_stops_every_worker_with_status_0(tmp_path: Path) -> None:
    port = free_port()
    server = _start(tmp_path, port, workers=2)
    try:
        wait_for(lambda: len(_owners(port, "0A")) == 2)
        server.send_signal(signal.SIGTERM)
        assert server.wait(remaining()) == 0
        assert not _owners(port, "0A")
    finally:
        if server.poll() is None:
            server.kill()


def test_a_busy_port_is_one_line_and_exit_2(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = _start(tmp_path, port, workers=2)
        out, _ = server.communicate(timeout=remaining())
    assert server.returncode == 2
    last = out.decode().strip().splitlines()[-1]
    assert last.startswith("elsewhere: listen address: 127.0.0.1:") and "in use" in last
    assert "Traceback" not in out.decode()


@pytest.mark.parametrize("port", ["99999", "0", "-1"])
def test_a_port_out_of_range_is_one_line_and_exit_2(
    port: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """--port 99999 used to listen on another port (the socket layer wraps it), 0 on one the
    OS picks: refused before anything opens."""
    assert main(["serve", "--port", port]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"elsewhere: --port: {port}: expected 1 to 65535"]


def _fails_at_once(host: str, port: int, access_log: bool, supervisor: int) -> None:
    raise SystemExit(3)


def _serves_briefly(host: str, port: int, access_log: bool, supervisor: int) -> None:
    marks = Path(os.environ["ELSEWHERE_TEST_MARKS"])
    with marks.open("a") as out:
        out.write(f"{os.getpid()}\n")
    time.sleep(0.3)


def test_a_worker_failing_at_start_stops_the_supervisor_with_status_1() -> None:
    supervisor = Supervisor("127.0.0.1", free_port(), 2, access_log=False, target=_fails_at_once)
    started = time.monotonic()
    assert supervisor.run() == 1
    assert time.monotonic() - started < OUTER_TIMEOUT  # it stops, instead of serving on
    assert all(not process.is_alive() for process, _ in supervisor.processes)


def test_a_worker_that_dies_after_starting_is_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marks = tmp_path / "marks"
    monkeypatch.setenv("ELSEWHERE_TEST_MARKS", str(marks))
    monkeypatch.setattr(workers, "STARTUP_SECONDS", 0.1)
    supervisor = Supervisor("127.0.0.1", free_port(), 1, access_log=False, target=_serves_briefly)

    def started() -> set[str]:
        return set(marks.read_text().split()) if marks.exists() else set()

    returned = threading.Event()

    def stop_once_replaced() -> None:
        # SIGTERM once a second worker has marked its start (at the outer timeout too, so the
        # supervisor returns and the assertion below says what is missing); never once run()
        # has returned, when the signal would reach pytest itself.
        with contextlib.suppress(AssertionError):
            wait_for(lambda: returned.is_set() or len(started()) >= 2)
        if not returned.is_set():
            os.kill(os.getpid(), signal.SIGTERM)

    stop = threading.Thread(target=stop_once_replaced, daemon=True)
    stop.start()
    try:
        assert supervisor.run() == 0  # SIGTERM: a clean stop
    finally:
        returned.set()
        stop.join(remaining())
    assert len(started()) >= 2  # a second process took its place


def test_no_access_log_drops_the_per_request_lines(tmp_path: Path) -> None:
    port = free_port()
    code = "from elsewhere.cli import main; raise SystemExit(main())"
    command = [sys.executable, "-c", code, "serve", "--data-dir", str(tmp_path / "cp")]
    command += ["--port", str(port), "--workers", "2"]
    for flag, logged in (("--access-log", True), ("--no-access-log", False)):
        server = subprocess.Popen(
            [*command, flag], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        try:
            wait_for(lambda: len(_owners(port, "0A")) == 2)
            # uvicorn logs the request before it writes the answer: once the answer is here,
            # the line (if any) is in the pipe, and the graceful stop below flushes it all.
            _connect(port).close()
        finally:
            server.send_signal(signal.SIGTERM)
            out, _ = server.communicate(timeout=remaining())
        assert (b"GET /healthz" in out) is logged, out[-500:]
