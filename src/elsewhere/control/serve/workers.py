"""`serve --workers N`: N uvicorn processes, each listening on the same port with its OWN socket
(SO_REUSEPORT), under a small supervisor.

Why not uvicorn's own workers: they share one listening socket, and whichever process is awake
first takes the next connection. Host agents keep their connections open, so the split stays
as it fell: 32 keep-alive connections measured 31:1, 31:1 and 26:6 over two workers, one core
doing all the work while the other idled. With a socket per worker the kernel spreads new
connections over the workers by a hash of their addresses and ports.

    supervisor ──spawn──▶ worker 1: socket(SO_REUSEPORT) → uvicorn → create_asgi(ControlPlane)
               ──spawn──▶ worker 2: socket(SO_REUSEPORT) → …            (same port)

The supervisor restarts a worker that dies after it started serving, stops every worker on
SIGINT or SIGTERM (a worker also stops by itself when its supervisor is gone, even killed with
SIGKILL), and gives up (exit status 1) if a worker fails while starting: a bad
database URL or an unreadable key would fail every restart the same way. Any process of the
same user may also bind the port with SO_REUSEPORT and so receive connections: the same user
can read the control plane's keys anyway (docs/control-plane.md, threat model).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

import uvicorn

from elsewhere.control.serve.edge import BACKLOG, uvicorn_options
from elsewhere.errors import ConfigError

log = logging.getLogger("elsewhere.control")
STARTUP_SECONDS = 30.0  # a worker that dies sooner than this after its start failed to start


def reuseport_available() -> bool:
    return hasattr(socket, "SO_REUSEPORT")


def listening_socket(host: str, port: int, *, listen: bool = True) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        if listen:
            sock.listen(BACKLOG)
    except OSError as error:
        sock.close()
        raise ConfigError(
            "listen address", f"{host}:{port}", error.strerror or "cannot listen"
        ) from None
    return sock


def _exit_with(supervisor: int) -> None:
    """Stop this worker (SIGTERM: uvicorn's graceful exit) once its supervisor is gone, even
    killed with SIGKILL: a worker must not keep serving on its own."""
    while os.getppid() == supervisor:
        time.sleep(0.5)
    os.kill(os.getpid(), signal.SIGTERM)


def _worker(host: str, port: int, access_log: bool, supervisor: int) -> None:
    """One worker process: its socket first (so the kernel counts it at once), then the app."""
    threading.Thread(target=_exit_with, args=(supervisor,), daemon=True).start()
    sock = listening_socket(host, port)
    # Imported only now, in the worker: the socket is counted before the seconds the app's
    # imports take, and the supervisor (and any other spawned target) stays light.
    from elsewhere.control.serve.worker_app import worker_app, worker_tls

    config = uvicorn.Config(
        worker_app(),
        log_level="info",
        access_log=access_log,
        lifespan="on",
        **uvicorn_options(),
        **worker_tls(),
    )
    uvicorn.Server(config).run(sockets=[sock])


class Supervisor:
    def __init__(
        self,
        host: str,
        port: int,
        workers: int,
        *,
        access_log: bool,
        target: Callable[[str, int, bool, int], None] | None = None,
    ) -> None:
        self.args = (host, port, access_log)
        self.target = target or _worker  # what a worker process runs (tests give their own)
        self.count = workers
        self.context = multiprocessing.get_context("spawn")
        self.processes: list[tuple[Any, float]] = []  # (process, started at)
        self.stopping = False

    def run(self) -> int:
        host, port, _ = self.args
        listening_socket(host, port, listen=False).close()  # a clear error before any spawn
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            self.processes = [self._start() for _ in range(self.count)]
            while not self.stopping:
                multiprocessing.connection.wait([p.sentinel for p, _ in self.processes], 1.0)
                for index, (process, started) in enumerate(self.processes):
                    if process.is_alive() or self.stopping:
                        continue
                    if time.monotonic() - started < STARTUP_SECONDS:
                        log.error("a worker failed while starting (exit %s)", process.exitcode)
                        return 1
                    log.warning(
                        "worker %s exited (%s); starting another", process.pid, process.exitcode
                    )
                    self.processes[index] = self._start()
            return 0
        finally:
            self._terminate()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _start(self) -> tuple[Any, float]:
        args = (*self.args, os.getpid())
        process = self.context.Process(target=self.target, args=args, daemon=False)
        process.start()
        return process, time.monotonic()

    def _stop(self, _signal: int, _frame: FrameType | None) -> None:
        self.stopping = True

    def _terminate(self) -> None:
        for process, _ in self.processes:
            if process.is_alive():
                process.terminate()
        deadline = time.monotonic() + 10
        for process, _ in self.processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                with contextlib.suppress(OSError):
                    process.kill()
                process.join(1)
