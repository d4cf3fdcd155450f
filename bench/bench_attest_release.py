"""Attest-and-release operations per second over HTTP on loopback, SQLite and PostgreSQL.

One operation is what a keep does to get its secrets: POST nonce, then POST attest with
emulated SEV-SNP evidence binding (nonce, keep key, workload, policy); the server verifies
the report (VCEK chain cached), checks binding and nonce, evaluates the policy, appends the
decision and release to the ledger in the same transaction as the state change, and wraps
the secret with HPKE (ML-KEM-768 + X25519) to the keep key. The control plane runs as a
real `elsewhere serve` subprocess (one, two, then four uvicorn workers, without the access log);
clients are threads in this process, one keep-alive connection each. The floor, measured in
the same run against the same
server, is the bare HTTP round-trip rate of a trivial endpoint (/healthz) at the same
concurrency, counted as two round trips per operation (an operation makes two requests).
CPU is accounted per operation: the server processes, the clients, the PostgreSQL server
processes, and every core's busy time (the clients share the two cores with the server).
Because this shared machine's speed moves by tens of percent, the run measures it (one core's
raw P-384 verifies per second, at the start and the end) and states each operation's work in
those units, with the machine speed at which two busy cores would reach the target; and, from
the ratio to the floor (which has held steadier), the floor at which they would.

A/B/C: in the same run, against the same machine load, on SQLite and on PostgreSQL with two
workers, alternately: the server of the commit this layering started from (BASE_COMMIT, its
hand-written fast path, extracted with `git archive` to a temporary directory and run with
PYTHONPATH on it), this tree's ("layered": nonce and attest as FastAPI routes), and this tree
with bench/hand-path.diff applied ("hand": the same tree, nonce and attest as a hand-written
ASGI path in front of the app, the FastAPI routes removed). The bench prints the figures and
two ratios: layered / base (needed >= 0.9) and hand / layered (a hand path would be kept only
at >= 1.3, and then as the only definition). Last line: one JSON object.
Options: `--databases sqlite,postgresql`, `--rounds N` (each round runs every tree once).
"""

from __future__ import annotations

import argparse
import atexit
import io
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from control_helpers import DEMO_POLICY, attest_body, greeter_wasm, postgres_available  # noqa: E402
from elsewhere.attest import make_attester  # noqa: E402
from elsewhere.control.serve.server import free_port  # noqa: E402
from elsewhere.crypto.hpke import KeepKey  # noqa: E402
from elsewhere.host.client import Client  # noqa: E402


class Lean:
    """A keep's two calls over one keep-alive connection, as cheaply as HTTP/1.1 allows (the
    bench's clients share the two cores with the server, so their CPU is taken from it):
    the request head is prebuilt, and the answer's head is read for its status and length
    only. The floor is measured with the same client."""

    def __init__(self, url: str, token: str) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.head = (
            f"Host: {host}:{port}\r\nAuthorization: Bearer {token}\r\n"
            "Content-Type: application/json\r\n"
        ).encode()
        self.buffer = b""

    def call(self, method: str, path: str, body: bytes = b"") -> bytes:
        self.sock.sendall(
            f"{method} {path} HTTP/1.1\r\n".encode()
            + self.head
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        while b"\r\n\r\n" not in self.buffer:
            self._receive()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status = int(head[9:12])
        length = None
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length is None:
            raise RuntimeError(f"{path}: answer without Content-Length")
        while len(self.buffer) < length:
            self._receive()
        data, self.buffer = self.buffer[:length], self.buffer[length:]
        if status != 200:
            raise RuntimeError(f"{path}: {status} {data[:200]!r}")
        return data

    def _receive(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise RuntimeError("the server closed the connection")
        self.buffer += chunk

    def nonce(self, placement: str) -> dict[str, Any]:
        answer: dict[str, Any] = json.loads(self.call("POST", f"/v1/placements/{placement}/nonce"))
        return answer

    def attest(self, placement: str, body: dict[str, str]) -> dict[str, Any]:
        path = f"/v1/placements/{placement}/attest"
        answer: dict[str, Any] = json.loads(self.call("POST", path, json.dumps(body).encode()))
        return answer


# 32 concurrent keeps: enough for group-commit batches to form, so this measures the plateau
# (as Veraison's published figure is), not the latency of a lightly loaded server.
THREADS = 32
SECONDS = 6.0
TARGET = 400
# uvicorn worker processes of the A/B (two cores: one worker each).
WORKERS = 2
# The commit the layered control plane (control/http, broker, store, ...) started from: its
# hand-written ASGI fast path is the figure the framework routes are compared with.
BASE_COMMIT = "2f42ef9"
# Applied to a copy of this tree, it gives the hand-path version of the same tree: nonce and
# attest served by http/hotpath.py, their FastAPI routes deleted (measured and not kept:
# docs/control-plane.md, Performance). Only the A/B's comparison: never part of the product.
HAND_PATCH = ROOT / "bench" / "hand-path.diff"
ROUNDS = 2  # base, layered, hand, then the reverse: the machine's drift falls on all alike
HAND_PATH_NEEDED = 1.3


def base_sources() -> tuple[Path, str]:
    """src/ of BASE_COMMIT (extracted once per machine) and the commit's full hash."""
    full = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", BASE_COMMIT],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    target = Path(tempfile.gettempdir()) / f"elsewhere-base-{full[:12]}"
    if not (target / "src" / "elsewhere" / "__init__.py").is_file():
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", "--format=tar", full, "src"],
            check=True,
            capture_output=True,
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(target, filter="data")
    return target / "src", full


def hand_sources() -> Path | None:
    """src/ of this tree with HAND_PATCH applied (None, saying why, if it no longer
    applies)."""
    target = Path(tempfile.mkdtemp(prefix="elsewhere-hand-"))
    atexit.register(shutil.rmtree, target, ignore_errors=True)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", "HEAD", "src"],
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")
    patch = HAND_PATCH.read_bytes()
    done = subprocess.run(["git", "apply", "-"], cwd=target, input=patch, capture_output=True)
    if done.returncode != 0:
        print(f"hand: skipped ({HAND_PATCH.name} does not apply: {done.stderr[:200]!r})")
        return None
    return target / "src"


def head_commit() -> str:
    done = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True
    )
    return done.stdout.strip() or "unknown"


# Run with PYTHONPATH on the tree under test: its own store, a tenant and a host credential
# (the module paths of this tree, else those of BASE_COMMIT's flat control package).
SETUP = """
import json, sys
from pathlib import Path
from elsewhere.control.config import ControlConfig, ControlPlane
try:
    from elsewhere.control.store.transactions import write
    from elsewhere.control.tenancy.auth import Kind, create_credential
    from elsewhere.control.tenancy.tenants import create_tenant
except ImportError:
    from elsewhere.control.db import write
    from elsewhere.control.auth import Kind, create_credential
    from elsewhere.control.tenants import create_tenant
cp = ControlPlane.open(ControlConfig.for_dir(Path(sys.argv[1]), sys.argv[2] or None))
with write(cp.engine) as conn:
    tenant = create_tenant(conn, "bench").token
    host = create_credential(conn, Kind.HOST, "genoa")
cp.engine.dispose()
print(json.dumps([tenant, host]))
"""


@contextmanager
def server(
    tmp: Path, database: str | None, workers: int, sources: Path
) -> Iterator[tuple[str, str, str, Any, int]]:
    data = tmp / "cp"
    attester = make_attester("emulated-snp", tmp / "genoa", generation="Genoa")
    # The store is created and migrated by the tree under test: a database migrated by this
    # tree holds revisions (control_0007, custodian_0001) an older tree cannot locate.
    done = subprocess.run(
        [sys.executable, "-c", SETUP, str(data), database or ""],
        check=True,
        capture_output=True,
        text=True,
        env=os.environ | {"PYTHONPATH": str(sources)},
    )
    tenant, host = json.loads(done.stdout.strip().splitlines()[-1])
    port = free_port()
    command = [sys.executable, "-c", "from elsewhere.cli import main; raise SystemExit(main())"]
    command += ["serve", "--data-dir", str(data), "--port", str(port), "--workers", str(workers)]
    command += ["--no-access-log"]  # each decision is in the ledger; a log line per request is not
    command += ["--trust-emulated-root", str(tmp / "genoa" / "emulated-snp" / "ark.pem")]
    if database:
        command += ["--database", database]
    log = tmp / "serve.log"
    with log.open("wb") as sink:
        environment = os.environ | {"PYTHONPATH": str(sources)}
        process = subprocess.Popen(command, stdout=sink, stderr=sink, env=environment)
    url = f"http://127.0.0.1:{port}"
    try:
        # Every worker must be accepting before the clients connect: keep-alive connections
        # made while only the first is up would all stay on it for the whole run.
        for _ in range(400):
            if log.read_bytes().count(b"Application startup complete") >= workers:
                break
            time.sleep(0.05)
        for _ in range(400):
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        yield url, tenant, host, attester, process.pid
    finally:
        process.terminate()
        process.wait(timeout=10)


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its children (uvicorn workers), Linux."""
    pids = [pid]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int(_stat(int(entry.name))[1]) == pid:
                    pids.append(int(entry.name))
            except (OSError, IndexError):
                continue
    ticks = 0
    for each in pids:
        try:
            fields = _stat(each)
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds() -> float:
    """CPU seconds of every PostgreSQL server process (the database's share of the work)."""
    ticks = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    fields = _stat(int(entry.name))
                    ticks += int(fields[11]) + int(fields[12])
            except (OSError, IndexError):
                continue
    return ticks / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent not idle (/proc/stat), whoever used them."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def run_clients(
    worker: Callable[[int, list[float]], None], seconds: float
) -> tuple[int, list[float]]:
    stop = time.monotonic() + seconds
    latencies: list[list[float]] = [[] for _ in range(THREADS)]

    def loop(index: int) -> None:
        while time.monotonic() < stop:
            worker(index, latencies[index])

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    flat = [x for per in latencies for x in per]
    return len(flat), flat


def measure(
    database: str | None, label: str, workers: int, sources: Path, tree: str
) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory() as directory,
        server(Path(directory), database, workers, sources) as (
            url,
            tenant_token,
            host_token,
            attester,
            pid,
        ),
    ):
        tenant = Client(url, tenant_token)
        digest = tenant.upload_workload(greeter_wasm(), "g.wasm")["digest"]
        tenant.put_secret("greeting-key", b"bench-secret")
        tenant.set_policy(DEMO_POLICY)
        agent = Client(url, host_token)
        agent.register("genoa", "emulated-snp", THREADS)
        tenant.deploy({"workload": digest, "replicas": THREADS, "secrets": ["greeting-key"]})
        placements = [a["placement"] for a in agent.assignments()]
        hosts = [Lean(url, host_token) for _ in range(THREADS)]
        keys = [KeepKey.generate() for _ in range(THREADS)]
        refused: list[str] = []

        def operation(index: int, out: list[float]) -> None:
            client, placement, key = hosts[index], placements[index], keys[index]
            started = time.perf_counter()
            answer = client.attest(placement, attest_body(client, attester, placement, key=key))
            if not answer["secrets"]:
                refused.append(answer["verdict"])
            out.append(time.perf_counter() - started)

        def ping(index: int, out: list[float]) -> None:
            started = time.perf_counter()
            hosts[index].call("GET", "/healthz")
            out.append(time.perf_counter() - started)

        run_clients(operation, 1.0)  # warm-up: connections, caches
        cpu, client_cpu = cpu_seconds(pid), time.process_time()
        db_cpu, busy = postgres_cpu_seconds(), machine_busy_seconds()
        count, latencies = run_clients(operation, SECONDS)
        op_cpu = cpu_seconds(pid) - cpu
        client_cpu = time.process_time() - client_cpu
        db_cpu = postgres_cpu_seconds() - db_cpu if database else 0.0
        busy = machine_busy_seconds() - busy
        floor_count, _ = run_clients(ping, SECONDS / 2)
        floor_cpu = cpu_seconds(pid) - cpu - op_cpu
        assert not refused, f"unexpected refusals: {refused[:3]}"
    rate = count / SECONDS
    floor_ops = floor_count / (SECONDS / 2) / 2  # two round trips per operation
    latencies.sort()
    result = {
        "database": label,
        "tree": tree,
        "workers": workers,
        "ops_per_s": round(rate, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
        "floor_ops_per_s": round(floor_ops, 1),
        "ratio_to_floor": round(rate / floor_ops, 3),
        # Server CPU per operation (user + system of the server process): what one core can
        # sustain, whatever else the machine is running.
        "server_cpu_ms_per_op": round(op_cpu / count * 1000, 3),
        "server_cpu_ms_per_floor_op": round(floor_cpu / floor_count * 2 * 1000, 3),
        "ops_per_server_core_s": round(count / op_cpu, 1),
        "client_cpu_ms_per_op": round(client_cpu / count * 1000, 3),
        "postgres_cpu_ms_per_op": round(db_cpu / count * 1000, 3),
        # Every core's non-idle time over the run, per operation and as a share of all cores.
        "machine_cpu_ms_per_op": round(busy / count * 1000, 3),
        "machine_busy": round(busy / SECONDS / (os.cpu_count() or 1), 2),
        "load_average": round(os.getloadavg()[0], 2),
    }
    print(
        f"{label:10} {tree:8} x{workers} {result['ops_per_s']:7.1f} attest+release/s  "
        f"p50 {result['p50_ms']} ms  "
        f"p99 {result['p99_ms']} ms  | floor (2 x /healthz) {result['floor_ops_per_s']:.1f}/s  "
        f"ratio {result['ratio_to_floor']:.2f}  (target {TARGET}/s)\n"
        f"{'':10} server CPU {result['server_cpu_ms_per_op']} ms/op "
        f"(floor {result['server_cpu_ms_per_floor_op']} ms) = "
        f"{result['ops_per_server_core_s']} ops per server-core-second; "
        f"client CPU {result['client_cpu_ms_per_op']} ms/op; "
        f"postgres CPU {result['postgres_cpu_ms_per_op']} ms/op; "
        f"all cores {result['machine_cpu_ms_per_op']} ms/op, {result['machine_busy']:.0%} busy; "
        f"load average {result['load_average']}"
    )
    return result


def p384_verify_rate(seconds: float = 1.0) -> float:
    """One core's raw ECDSA P-384 verifications per second: this machine's speed in this run
    (shared machines vary by tens of percent from one hour to the next)."""
    key = ec.generate_private_key(ec.SECP384R1())
    signature = key.sign(b"x", ec.ECDSA(hashes.SHA384()))
    public, count, stop = key.public_key(), 0, time.perf_counter() + seconds
    while time.perf_counter() < stop:
        public.verify(signature, b"x", ec.ECDSA(hashes.SHA384()))
        count += 1
    return count / seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    options = parser.parse_args()
    databases = [d for d in options.databases.split(",") if d]
    print(f"attest-and-release over loopback HTTP, {THREADS} client threads, {SECONDS:.0f} s each")
    speed_before = p384_verify_rate()
    print(f"machine speed: {speed_before:.0f} raw P-384 verifies/s on one core")
    base, base_full = base_sources()
    trees = {"base": base, "layered": ROOT / "src"}
    hand = hand_sources()
    if hand is not None:
        trees["hand"] = hand
    head = head_commit()
    print(
        f"base {base_full} (server from {base}); layered {head}; "
        f"hand {head} with {HAND_PATCH.name} ({hand})"
    )
    order = [t for t in ("base", "layered", "hand") if t in trees]
    results = []
    for label in databases:
        for round_ in range(options.rounds):
            for tree in order if round_ % 2 == 0 else order[::-1]:
                if label == "sqlite":
                    results.append(measure(None, label, WORKERS, trees[tree], tree))
                    continue
                pg = postgres_available()  # a fresh database for each run
                if pg is None:
                    print("postgresql: skipped (no server at 127.0.0.1:5432)")
                    break
                with pg as url:
                    results.append(measure(url, label, WORKERS, trees[tree], tree))
    comparison = []
    for label in databases:
        rates = {
            tree: [r["ops_per_s"] for r in results if r["database"] == label and r["tree"] == tree]
            for tree in trees
        }
        if not rates["base"] or not rates["layered"]:
            continue
        medians = {tree: statistics.median(got) for tree, got in rates.items() if got}
        old, new = medians["base"], medians["layered"]
        ratio = round(new / old, 3) if old else None
        by_hand = medians.get("hand")
        hand_ratio = round(by_hand / new, 3) if by_hand and new else None
        comparison.append(
            {"database": label, "workers": WORKERS, "base_ops_per_s": old}
            | {"layered_ops_per_s": new, "ratio": ratio, "needed": 0.9}
            | {"hand_path_ops_per_s": by_hand, "hand_path_ratio": hand_ratio}
            | {"hand_path_needed": HAND_PATH_NEEDED, "runs_per_tree": options.rounds}
        )
        print(
            f"A/B {label:10} x{WORKERS}: base {BASE_COMMIT} {old:.1f}/s, layered {new:.1f}/s, "
            f"ratio {ratio} (needed >= 0.9); hand path {by_hand}/s, hand / layered "
            f"{hand_ratio} (needed >= {HAND_PATH_NEEDED} to keep one); "
            f"medians of {options.rounds} runs each"
        )
    speed_after = p384_verify_rate()
    print(f"machine speed: {speed_after:.0f} raw P-384 verifies/s on one core (at the end)")
    # The work of one operation in units of this machine's own P-384 verify (all cores' CPU
    # per operation × verifies per CPU-second): comparable across runs on machines of
    # different speed, where ops/s is not. An estimate: Python and OpenSSL need not slow
    # down alike. The rate two busy cores would give at a machine speed V is then about
    # 2 × V / this figure.
    speed = (speed_before + speed_after) / 2
    for result in results:
        work = result["machine_cpu_ms_per_op"] / 1000 * speed
        result["work_in_p384_verifies_per_op"] = round(work, 2)
        # The ratio to the bare-HTTP floor has held steadier across machine speeds than work in
        # P-384 units (Python slows more than OpenSSL when this shared machine is slow): the
        # floor at which this ratio would reach the target is the second estimate.
        rate, floor = result["ops_per_s"], result["floor_ops_per_s"]
        floor_needed = floor * TARGET / rate if rate else None  # the unrounded ratio
        result["floor_needed_for_target"] = round(floor_needed) if floor_needed else None
        needs = (  # one worker is one core's worth of Python: it cannot keep two busy
            f"; {TARGET}/s on two busy cores needs a machine speed of about "
            f"{TARGET * work / 2:.0f} verifies/s, or a floor of about {floor_needed:,.0f}/s"
            if result["workers"] > 1 and floor_needed
            else ""
        )
        print(
            f"{result['database']:10} x{result['workers']} work per operation ≈ {work:.1f} "
            f"P-384 verifies of this machine{needs}"
        )
    summary = {
        "bench": "attest_release",
        "target_ops_per_s": TARGET,
        "cpus": os.cpu_count(),
        "p384_verify_per_s": [round(speed_before), round(speed_after)],
        "base_commit": base_full,
        "layered_commit": head,
        "ab": comparison,
        "results": results,
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
