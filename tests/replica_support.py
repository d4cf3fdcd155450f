"""Replicas as the product runs them: `elsewhere serve` processes, each with its own data
directory, all with the same `--keys` directory and the same PostgreSQL database."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from elsewhere.control.serve.server import free_port
from waits import remaining, wait_for

CLI = "from elsewhere.cli import main; raise SystemExit(main())"


@dataclass
class Replica:
    process: subprocess.Popen[bytes]
    port: int
    data: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ready(self) -> dict[str, Any]:
        answer: dict[str, Any] = httpx.get(f"{self.url}/readyz", timeout=remaining()).json()
        return answer

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(remaining())


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", CLI, *args], capture_output=True, text=True, timeout=remaining()
    )


def start_replica(tmp: Path, name: str, keys: Path, database: str, root: Path) -> Replica:
    data, port = tmp / name, free_port()
    data.mkdir(mode=0o700, parents=True, exist_ok=True)
    command = [sys.executable, "-c", CLI, "serve", "--data-dir", str(data), "--port", str(port)]
    command += ["--keys", str(keys), "--database", database, "--trust-emulated-root", str(root)]
    command += ["--no-access-log"]
    with (tmp / f"{name}.log").open("ab") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    replica = Replica(process, port, data)
    wait_for(lambda: _ready(replica))
    return replica


def _ready(replica: Replica) -> bool:
    code = replica.process.poll()
    assert code is None, f"serve exited with {code} before it was ready"
    try:
        return httpx.get(f"{replica.url}/readyz", timeout=remaining()).status_code == 200
    except httpx.HTTPError:
        return False
