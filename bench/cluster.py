"""A small cluster harness for the fault campaign (bench/faults.py), the scaling bench
(bench/bench_scaling.py) and tests/test_faults_short.py: N `elsewhere serve` replicas as
subprocesses (distinct ports kept across restarts, one shared --keys directory, one
PostgreSQL URL), each waited on through /readyz, or one replica on the SQLite default (no
--database, no --keys); and the tenant, host and placements the load needs. The private
PostgreSQL is bench/private_pg.py; the round-robin client and the load are bench/load.py.

Waits here take explicit deadlines (a bench runs for minutes, longer than a test's clock).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from control_helpers import DEMO_POLICY, greeter_wasm  # noqa: E402
from elsewhere.attest import make_attester  # noqa: E402
from elsewhere.control.config import ControlConfig, ControlPlane  # noqa: E402
from elsewhere.control.serve.server import free_port  # noqa: E402
from elsewhere.control.store.transactions import write  # noqa: E402
from elsewhere.control.tenancy.auth import Kind, create_credential  # noqa: E402
from elsewhere.control.tenancy.tenants import create_tenant  # noqa: E402
from elsewhere.host.client import Client  # noqa: E402

CLI = "from elsewhere.cli import main; raise SystemExit(main())"
T = TypeVar("T")


def until(check: Callable[[], T], timeout: float, what: str, every: float = 0.05) -> T:
    """Call `check` until it returns something truthy; TimeoutError naming `what` after
    `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:.0f} s")
        time.sleep(every)


# --- replicas ---------------------------------------------------------------------------


@dataclass(eq=False)
class Replica:
    name: str
    port: int
    data: Path
    command: list[str]
    log: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def spawn(self) -> None:
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen(self.command, stdout=sink, stderr=subprocess.STDOUT)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def readiness(self) -> dict[str, Any] | None:
        """The /readyz document when it says ready, else None."""
        if not self.alive():
            return None
        try:
            answer = httpx.get(f"{self.url}/readyz", timeout=2)
        except httpx.HTTPError:
            return None
        document: dict[str, Any] = answer.json()
        return document if answer.status_code == 200 else None

    def kill(self) -> None:
        """kill -9, and reap it."""
        if self.alive():
            assert self.process is not None
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(30)

    def pause(self) -> None:
        os.kill(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.pid, signal.SIGCONT)

    def terminate(self) -> None:
        if self.alive():
            assert self.process is not None
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(15)


@dataclass
class World:
    """What the load needs: tokens, the emulated host's attester, and its placements."""

    tenant: str
    host: str
    attester: Any
    placements: list[str]


class Cluster:
    """N replicas on `database` (a PostgreSQL URL) with one --keys directory, or (database
    None) one replica on the SQLite default in `data_dir`."""

    def __init__(
        self, tmp: Path, database: str | None, count: int, data_dir: Path | None = None
    ) -> None:
        self.tmp, self.database = tmp, database
        self.keys = tmp / "keys"
        self.root = tmp / "genoa" / "emulated-snp" / "ark.pem"
        self.attester = make_attester("emulated-snp", tmp / "genoa", generation="Genoa")
        if database is not None:
            made = subprocess.run(
                [sys.executable, "-c", CLI, "keys", "init", str(self.keys)],
                capture_output=True,
                text=True,
            )
            if made.returncode != 0:
                raise RuntimeError(f"keys init: {made.stderr.strip()}")
        self.replicas = [self._replica(i, data_dir) for i in range(count)]

    def _replica(self, index: int, data_dir: Path | None) -> Replica:
        name = f"r{index}"
        data, port = data_dir or self.tmp / name, free_port()
        data.mkdir(mode=0o700, parents=True, exist_ok=True)
        command = [sys.executable, "-c", CLI, "serve", "--data-dir", str(data)]
        command += ["--port", str(port), "--no-access-log", "--trust-emulated-root", str(self.root)]
        if self.database is not None:
            command += ["--keys", str(self.keys), "--database", self.database]
        return Replica(name, port, data, command, self.tmp / f"{name}.log")

    def urls(self) -> list[str]:
        return [r.url for r in self.replicas]

    def start(self, replicas: list[Replica] | None = None, timeout: float = 120) -> float:
        """Start these (default: all) at once and wait until each says ready; seconds taken."""
        started = time.monotonic()
        chosen = self.replicas if replicas is None else replicas
        for replica in chosen:
            replica.spawn()
        for replica in chosen:

            def ready(replica: Replica = replica) -> bool:
                if not replica.alive():
                    tail = replica.log.read_text(errors="replace")[-400:]
                    raise RuntimeError(f"{replica.name} exited before it was ready: {tail}")
                return replica.readiness() is not None

            until(ready, timeout, f"{replica.name} ready")
        return time.monotonic() - started

    def stop(self) -> None:
        for replica in self.replicas:
            replica.terminate()

    def holder(self, lease: str, among: list[Replica] | None = None) -> Replica | None:
        """The live replica whose /readyz says it holds `lease` (unexpired), if any."""
        for replica in self.replicas if among is None else among:
            document = replica.readiness()
            held = (document or {}).get("leases", {}).get(lease, {})
            if held.get("mine") and held.get("expires_in", 0) > 0:
                return replica
        return None

    def operator_plane(self) -> ControlPlane:
        data = self.replicas[0].data if self.database is None else self.tmp / "operator"
        return ControlPlane.open(ControlConfig.for_dir(data, self.database, keys_dir=self._keys()))

    def _keys(self) -> Path | None:
        return self.keys if self.database is not None else None

    def world(self, keeps: int) -> World:
        """A tenant with the secret greeter, a secret and the demo policy, an emulated host
        with `keeps` placements assigned: set up through the replicas themselves."""
        cp = self.operator_plane()
        try:
            with write(cp.engine) as conn:
                tenant_token = create_tenant(conn, "faults").token
                host_token = create_credential(conn, Kind.HOST, "genoa")
        finally:
            cp.close()
        urls = [r.url for r in self.replicas if r.alive()]
        tenant = Client(urls[0], tenant_token)
        digest = tenant.upload_workload(greeter_wasm(), "g.wasm")["digest"]
        tenant.put_secret("greeting-key", b"fault-campaign-secret")
        tenant.set_policy(DEMO_POLICY)
        agent = Client(urls[-1], host_token)
        agent.register("genoa", "emulated-snp", keeps)
        tenant.deploy({"workload": digest, "replicas": keeps, "secrets": ["greeting-key"]})
        placements = [a["placement"] for a in until(agent.assignments, 60, "assignments")]
        return World(tenant_token, host_token, self.attester, placements)
