"""A small cluster harness for the fault campaign (bench/faults.py), the scaling bench
(bench/bench_scaling.py) and tests/test_faults_short.py.

- `PrivatePostgres`: a throwaway PostgreSQL cluster (initdb in a temporary directory, its own
  port), which the campaign may restart and kill; the shared server on 5432 is never touched.
- `Cluster`: N `elsewhere serve` replicas as subprocesses (distinct ports kept across
  restarts, one shared --keys directory, one database URL), each waited on through /readyz;
  or one replica on the SQLite default (no --database, no --keys).
- `RoundRobin`: a client that sends each request to the next replica and fails over to the
  following one on a connection error or a 5xx, as a load balancer would.
- `Load`: keeps (threads) doing attest-and-release (nonce, emulated SEV-SNP evidence binding
  nonce, keep key, workload and policy, attest) through round-robin clients, a host heartbeat,
  and a writer storing secrets; every release received and every write acknowledged is
  recorded for the invariant checks (bench/invariants.py).

Waits here take explicit deadlines (a bench runs for minutes, longer than a test's clock).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
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
from elsewhere.crypto.binding import report_data  # noqa: E402
from elsewhere.crypto.hpke import KeepKey, PublicKey  # noqa: E402
from elsewhere.host.client import Client, b64  # noqa: E402
from elsewhere.wire import digest_bytes  # noqa: E402

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


# --- a private PostgreSQL ---------------------------------------------------------------


def postgres_bin() -> Path | None:
    """The directory of initdb/pg_ctl (Debian keeps them out of PATH), or None."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return candidates[-1].parent if candidates else None


class PrivatePostgres:
    """A PostgreSQL cluster of our own in a temporary directory, on a free port: restarting or
    killing it disturbs nobody. As root, the server runs as user postgres (it refuses root)."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="elsewhere-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            self.as_user = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.root, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        self.options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
        self.options += " -c max_connections=200"

    def _run(self, tool: str, *args: str) -> None:
        done = subprocess.run(
            [*self.as_user, str(self.bin / tool), *args], capture_output=True, text=True
        )
        if done.returncode != 0:
            raise RuntimeError(f"{tool} {' '.join(args[:2])}: {done.stderr.strip()[-300:]}")

    def pg_ctl(self, *args: str) -> None:
        log = str(self.root / "server.log")
        self._run("pg_ctl", "-D", str(self.data), "-l", log, "-o", self.options, "-w", *args)

    def start(self) -> None:
        self.pg_ctl("start")

    def restart(self, mode: str = "immediate") -> None:
        """`immediate`: the server stops without a shutdown checkpoint (as after a crash) and
        recovers from its WAL when it starts again."""
        self.pg_ctl("restart", "-m", mode)

    def stop(self) -> None:
        self.pg_ctl("stop", "-m", "fast")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def remove(self) -> None:
        with contextlib.suppress(RuntimeError):  # not running
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres | None]:
    """A started private cluster, removed afterwards; None when initdb is absent."""
    found = postgres_bin()
    if found is None:
        yield None
        return
    pg = PrivatePostgres(found)
    try:
        pg.start()
        yield pg
    finally:
        pg.remove()


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


# --- the client side --------------------------------------------------------------------


class Unavailable(Exception):
    """No replica answered (each refused the connection, timed out or said 5xx)."""


# 5xx: the replica is up but cannot serve (its database is down): try the next one.
RETRY_STATUSES = frozenset({500, 502, 503, 504, 507})


class RoundRobin:
    """One keep-alive connection per replica; each request goes to the next replica, and on
    a connection error, a timeout or a 5xx to the one after, until every one was tried."""

    def __init__(self, urls: list[str], token: str, timeout: float = 3.0) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        self.clients = [httpx.Client(base_url=u, headers=headers, timeout=timeout) for u in urls]
        self.turn = 0
        self.failovers = 0
        self.statuses: dict[int, int] = {}  # 5xx statuses seen (a replica that could not serve)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        for _ in range(len(self.clients)):
            client = self.clients[self.turn % len(self.clients)]
            self.turn += 1
            try:
                response = client.request(method, path, **kwargs)
            except httpx.TransportError:
                self.failovers += 1
                continue
            if response.status_code in RETRY_STATUSES:
                self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
                self.failovers += 1
                continue
            return response
        raise Unavailable(f"{method} {path}: no replica answered")

    def close(self) -> None:
        for client in self.clients:
            client.close()


@dataclass(frozen=True)
class Receipt:
    """A release a keep received: what the ledger must hold at `ledger_index`."""

    nonce: str
    ledger_index: int
    evidence: bytes
    keep_key_digest: str
    secrets: tuple[str, ...]
    began: float  # time.monotonic() before its nonce was asked for
    at: float  # time.monotonic() when the release arrived


@dataclass
class Tally:
    receipts: list[Receipt] = field(default_factory=list)
    acked: list[str] = field(default_factory=list)  # secret names stored (201 received)
    replays: int = 0  # 409 on a retried attest: its first try had committed
    unavailable: int = 0
    unexpected: list[str] = field(default_factory=list)
    failovers: int = 0
    statuses: dict[int, int] = field(default_factory=dict)  # 5xx answers, by status
    lock: threading.Lock = field(default_factory=threading.Lock)

    def first_release_after(self, moment: float) -> float | None:
        """When the first release arrived whose attempt began after `moment`."""
        with self.lock:
            times = [r.at for r in self.receipts if r.began > moment]
        return min(times) if times else None


class Load:
    """`keeps` threads doing attest-and-release in a loop, a heartbeat and a secret writer,
    all through round-robin clients, until `stop()`."""

    def __init__(
        self,
        urls: list[str],
        world: World,
        keeps: int,
        writes: bool = True,
        heartbeat: bool = True,
        timeout: float = 3.0,
    ) -> None:
        self.urls, self.world, self.tally = urls, world, Tally()
        self.timeout = timeout  # past it a request fails over to the next replica
        self.halt = threading.Event()
        self.threads = [
            threading.Thread(target=self._keep, args=(p,), daemon=True)
            for p in world.placements[:keeps]
        ]
        if heartbeat:  # a host silent for heartbeat_timeout (15 s) loses its placements
            self.threads.append(threading.Thread(target=self._heartbeat, daemon=True))
        if writes:
            self.threads.append(threading.Thread(target=self._writer, daemon=True))

    def start(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def stop(self) -> Tally:
        self.halt.set()
        for thread in self.threads:
            thread.join(60)
        return self.tally

    def _note(self, what: str) -> None:
        with self.tally.lock:
            if len(self.tally.unexpected) < 50:
                self.tally.unexpected.append(what)

    def _keep(self, placement: str) -> None:
        client = RoundRobin(self.urls, self.world.host, self.timeout)
        key = KeepKey.generate()
        public = key.public_bytes()
        digest = "sha256:" + PublicKey.parse(public).fingerprint()
        try:
            while not self.halt.is_set():
                try:
                    self._release(client, placement, key, public, digest)
                except Unavailable:
                    with self.tally.lock:
                        self.tally.unavailable += 1
                    self.halt.wait(0.1)
        finally:
            self._merge(client)

    def _release(
        self, client: RoundRobin, placement: str, key: KeepKey, public: bytes, digest: str
    ) -> None:
        began = time.monotonic()
        issued = client.request("POST", f"/v1/placements/{placement}/nonce")
        if issued.status_code != 200:
            self._note(f"nonce: {issued.status_code} {issued.text[:120]}")
            self.halt.wait(0.1)
            return
        doc = issued.json()
        nonce = bytes.fromhex(doc["nonce"])
        binding = report_data(
            nonce, public, bytes.fromhex(doc["workload_digest"]), digest_bytes(doc["policy_digest"])
        )
        evidence = self.world.attester.attest(binding)
        body = {
            "nonce": doc["nonce"],
            "keep_public_key": b64(public),
            "evidence": b64(evidence.evidence),
            "certificates": b64(evidence.aux),
        }
        # The same body to the next replica after a failure: if the first had committed, the
        # nonce is spent and the answer is 409 (replay refused), never a second release.
        answer = client.request("POST", f"/v1/placements/{placement}/attest", json=body)
        if answer.status_code == 409 and "replay" in answer.text:
            with self.tally.lock:
                self.tally.replays += 1
            return
        if answer.status_code != 200:
            self._note(f"attest: {answer.status_code} {answer.text[:120]}")
            return
        result = answer.json()
        if not result.get("secrets"):
            self._note(f"attest: no secrets ({result.get('verdict')}: {result.get('reasons')})")
            return
        receipt = Receipt(
            doc["nonce"],
            int(result["ledger_index"]),
            evidence.evidence,
            digest,
            tuple(sorted(result["secrets"])),
            began,
            time.monotonic(),
        )
        with self.tally.lock:
            self.tally.receipts.append(receipt)

    def _merge(self, client: RoundRobin) -> None:
        with self.tally.lock:
            self.tally.failovers += client.failovers
            for status, count in client.statuses.items():
                self.tally.statuses[status] = self.tally.statuses.get(status, 0) + count
        client.close()

    def _heartbeat(self) -> None:
        client = RoundRobin(self.urls, self.world.host)
        while not self.halt.wait(1.0):
            try:
                client.request("GET", "/v1/hosts/me/assignments")
            except Unavailable:
                continue
        client.close()

    def _writer(self) -> None:
        client = RoundRobin(self.urls, self.world.tenant)
        number = 0
        while not self.halt.wait(0.25):
            number += 1
            name = f"ack-{os.getpid()}-{number}"
            try:
                stored = client.request(
                    "PUT",
                    f"/v1/secrets/{name}",
                    content=name.encode(),
                    headers={"Content-Type": "application/octet-stream"},
                )
            except Unavailable:
                continue
            if stored.status_code == 201:
                with self.tally.lock:
                    self.tally.acked.append(name)
        self._merge(client)
