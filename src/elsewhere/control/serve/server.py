"""Run the API with uvicorn: in this process, in several worker processes (`serve
--workers N`), or in a thread (demo, tests).

With several workers each process opens the store itself (migrations run once, before they
start) and has its own group committer; transactions keep them consistent with each other
(SQLite's write lock, PostgreSQL's row locks) exactly as they keep threads consistent.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn

from elsewhere.control.config import ControlPlane
from elsewhere.control.http.app import create_asgi
from elsewhere.control.http.metrics import MULTIPROC_ENV
from elsewhere.control.serve.edge import MAX_CONNECTIONS, TLSFiles, tls_options, uvicorn_options
from elsewhere.control.serve.worker_app import WORKER_SETTINGS
from elsewhere.control.serve.workers import Supervisor, reuseport_available


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def uvicorn_config(
    cp: ControlPlane,
    host: str,
    port: int,
    *,
    access_log: bool = True,
    max_connections: int = MAX_CONNECTIONS,
    logs: bool = True,
    tls: TLSFiles | None = None,
) -> uvicorn.Config:
    return uvicorn.Config(
        create_asgi(cp),
        host=host,
        port=port,
        log_level="warning" if not access_log else "info",
        access_log=access_log,
        lifespan="on",
        **uvicorn_options(max_connections, logs=logs),
        **tls_options(tls),
    )


def serve(
    cp: ControlPlane, host: str, port: int, *, access_log: bool = True, tls: TLSFiles | None = None
) -> None:
    uvicorn.Server(uvicorn_config(cp, host, port, access_log=access_log, tls=tls)).run()


def serve_workers(
    data_dir: Path,
    database_url: str,
    roots: list[Path],
    host: str,
    port: int,
    workers: int,
    risk: dict[str, Any] | None = None,
    *,
    access_log: bool = True,
    keys: Path | None = None,
    emulated_roots: Path | None = None,
    attest_refusal_limit: int = 3,
    tls: TLSFiles | None = None,
) -> int:
    """`workers` uvicorn processes, each building its ControlPlane in `worker_app` (`risk`:
    ControlConfig risk settings, the same in every worker), each with its own socket on the
    port (control/serve/workers.py says why); uvicorn's own workers where SO_REUSEPORT is missing.
    The exit status: 0 once stopped, 1 if a worker failed to start."""
    settings = {
        "data_dir": str(data_dir),
        "database": database_url,
        "roots": [str(r) for r in roots],
        "risk": risk or {},
        "keys": str(keys) if keys is not None else None,
        "emulated_roots": str(emulated_roots) if emulated_roots is not None else None,
        "attest_refusal_limit": attest_refusal_limit,
        "tls": tls.to_json() if tls is not None else None,
    }
    os.environ[WORKER_SETTINGS] = json.dumps(settings)
    metrics_dir(data_dir)
    if reuseport_available():
        return Supervisor(host, port, workers, access_log=access_log).run()
    uvicorn.run(
        "elsewhere.control.serve.worker_app:worker_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        lifespan="on",
        log_level="info",
        access_log=access_log,
        **uvicorn_options(),
        **tls_options(tls),
    )
    return 0


def metrics_dir(data_dir: Path) -> Path:
    """Where the workers keep their Prometheus samples (multiprocess mode; http/metrics.py):
    $PROMETHEUS_MULTIPROC_DIR if set, else `metrics/` in the data dir; emptied before the
    workers start, so a scrape sums only this run's workers."""
    path = Path(os.environ.get(MULTIPROC_ENV) or data_dir / "metrics")
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink()
    os.environ[MULTIPROC_ENV] = str(path)
    return path


class ThreadedServer:
    """uvicorn on a loopback port in a background thread; `stop()` shuts it down."""

    def __init__(
        self,
        cp: ControlPlane,
        host: str = "127.0.0.1",
        port: int | None = None,
        max_connections: int = MAX_CONNECTIONS,
        tls: TLSFiles | None = None,
    ) -> None:
        self.host, self.port = host, port or free_port(host)
        self.scheme = "https" if tls is not None else "http"
        config = uvicorn_config(
            cp,
            self.host,
            self.port,
            access_log=False,
            max_connections=max_connections,
            logs=False,
            tls=tls,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="elsewhere-api", daemon=True)

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

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
