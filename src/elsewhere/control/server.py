"""Run the API with uvicorn: in this process (`serve`), or in a thread (demo, tests)."""

from __future__ import annotations

import socket
import threading
import time

import uvicorn

from elsewhere.control.app import create_app
from elsewhere.control.config import ControlPlane


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def uvicorn_config(
    cp: ControlPlane, host: str, port: int, *, access_log: bool = True
) -> uvicorn.Config:
    return uvicorn.Config(
        create_app(cp),
        host=host,
        port=port,
        log_level="warning" if not access_log else "info",
        access_log=access_log,
        lifespan="on",
    )


def serve(cp: ControlPlane, host: str, port: int) -> None:
    uvicorn.Server(uvicorn_config(cp, host, port)).run()


class ThreadedServer:
    """uvicorn on a loopback port in a background thread; `stop()` shuts it down."""

    def __init__(self, cp: ControlPlane, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.host, self.port = host, port or free_port(host)
        self.server = uvicorn.Server(uvicorn_config(cp, self.host, self.port, access_log=False))
        self.thread = threading.Thread(target=self.server.run, name="elsewhere-api", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> ThreadedServer:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("control plane did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def __enter__(self) -> ThreadedServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
