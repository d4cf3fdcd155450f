"""Attest-and-release per second with 1, 2 and 3 replicas on this machine (issue #20, item 4),
beside the bare-HTTP floor and the PostgreSQL ceiling, all measured in the same run.

- Replicas: `elsewhere serve` processes (one uvicorn worker each, shared --keys, one
  PostgreSQL database) on a PRIVATE PostgreSQL cluster (initdb in a temporary directory, its
  own port: the shared server is not loaded or touched). Replica 1 starts, is measured; the
  second starts, both are measured; then all three. THREADS keeps in this process drive them
  through round-robin clients (bench/cluster.py): nonce, emulated SEV-SNP evidence, attest.
- Floor: a trivial ASGI app under uvicorn (200 "ok"), the same client threads and library,
  counted as two round trips per operation (an operation makes two requests).
- Ceiling: `pgbench` (simple-update, 16 clients) commits per second on the same private
  PostgreSQL; one release is one commit.
- CPU per operation: user + system seconds of the replica processes, of the private
  PostgreSQL's processes, and of this client process, each divided by the operations.

The machine has 2 cores, shared with other work while this runs (the load average is
printed): three replicas and the clients share those two cores, so 1→3 replicas measures
contention here, not what three machines would do; docs/scale-out.md projects that from the
CPU per operation. Last line: one JSON object (ratios included).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cluster import Cluster, until
from elsewhere.control.serve.server import free_port
from load import Load
from private_pg import PrivatePostgres, private_postgres

THREADS = 12
SECONDS = 6.0
WARM_UP = 1.5
FLOOR_APP = """
import sys, uvicorn
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
"""


def _ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def _family(root: int) -> list[int]:
    """`root` and its descendants (Linux /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int(
                    (entry / "stat").read_text().rsplit(")", 1)[1].split()[1]
                )
            except (OSError, IndexError, ValueError):
                continue
    family, frontier = [root], [root]
    while frontier:
        frontier = [pid for pid, parent in parents.items() if parent in frontier]
        family += frontier
    return family


def cpu_seconds(roots: list[int]) -> float:
    ticks = 0
    for root in roots:
        for pid in _family(root):
            try:
                ticks += _ticks(pid)
            except OSError:
                continue  # ended meanwhile (a PostgreSQL backend)
    return ticks / os.sysconf("SC_CLK_TCK")


def postmaster(pg: PrivatePostgres) -> int:
    return int((pg.data / "postmaster.pid").read_text().split("\n", 1)[0])


def measure(cluster: Cluster, count: int, world: Any, pg: PrivatePostgres) -> dict[str, Any]:
    replicas = cluster.replicas[:count]
    # A long timeout: a request slow on this loaded machine is waited for, not failed over
    # (a retried attest is refused as a replay and would count as lost work).
    urls = [r.url for r in replicas]
    load = Load(urls, world, THREADS, writes=False, heartbeat=False, timeout=60.0)
    load.start()
    time.sleep(WARM_UP)
    pids, pg_pid = [r.pid for r in replicas], postmaster(pg)
    server, database, client = cpu_seconds(pids), cpu_seconds([pg_pid]), time.process_time()
    began = time.monotonic()
    time.sleep(SECONDS)
    ended = time.monotonic()
    server = cpu_seconds(pids) - server
    database = cpu_seconds([pg_pid]) - database
    client = time.process_time() - client
    tally = load.stop()
    ops = sum(1 for r in tally.receipts if began <= r.at < ended)
    assert ops and not tally.unexpected, tally.unexpected[:3]
    result = {
        "replicas": count,
        "ops_per_s": round(ops / SECONDS, 1),
        "server_cpu_ms_per_op": round(server / ops * 1000, 2),
        "postgres_cpu_ms_per_op": round(database / ops * 1000, 2),
        "client_cpu_ms_per_op": round(client / ops * 1000, 2),
        "load_average": round(os.getloadavg()[0], 2),
        "failovers": tally.failovers,
        "replays_refused": tally.replays,
    }
    print(
        f"{count} replica(s): {result['ops_per_s']:7.1f} attest+release/s | CPU per op: "
        f"replicas {result['server_cpu_ms_per_op']} ms, PostgreSQL "
        f"{result['postgres_cpu_ms_per_op']} ms, clients {result['client_cpu_ms_per_op']} ms "
        f"| load average {result['load_average']}"
    )
    return result


def floor(tmp: Path) -> dict[str, Any]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", FLOOR_APP, str(port)])
    url = f"http://127.0.0.1:{port}"
    try:

        def up() -> bool:
            try:
                return httpx.get(url, timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        until(up, 60, "the floor's uvicorn app")
        halt, counts = threading.Event(), [0] * THREADS

        def loop(index: int) -> None:
            with httpx.Client(base_url=url, timeout=10) as client:
                while not halt.is_set():
                    client.get("/")
                    counts[index] += 1

        threads = [threading.Thread(target=loop, args=(i,)) for i in range(THREADS)]
        for thread in threads:
            thread.start()
        time.sleep(WARM_UP)
        start, cpu = sum(counts), cpu_seconds([process.pid])
        time.sleep(SECONDS / 2)
        requests, cpu = sum(counts) - start, cpu_seconds([process.pid]) - cpu
        halt.set()
        for thread in threads:
            thread.join(30)
    finally:
        process.terminate()
        process.wait(10)
    result = {
        "floor_ops_per_s": round(requests / (SECONDS / 2) / 2, 1),  # two requests per op
        "floor_server_cpu_ms_per_op": round(cpu / requests * 2 * 1000, 3),
    }
    print(
        f"floor (trivial uvicorn app, same clients, 2 requests per op): "
        f"{result['floor_ops_per_s']:.1f}/s, "
        f"server CPU {result['floor_server_cpu_ms_per_op']} ms/op"
    )
    return result


def pgbench(pg: PrivatePostgres) -> dict[str, Any]:
    pg.create_database("pgbench")
    args = ["-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres"]
    subprocess.run(
        ["pgbench", *args, "-i", "-s", "4", "-q", "pgbench"], check=True, capture_output=True
    )
    done = subprocess.run(
        ["pgbench", *args, "-N", "-c", "16", "-j", "2", "-T", "8", "pgbench"],
        check=True,
        capture_output=True,
        text=True,
    )
    found = re.search(r"tps = ([0-9.]+)", done.stdout)
    assert found, done.stdout[-400:]
    tps = float(found.group(1))
    print(f"pgbench simple-update, 16 clients, 8 s, same PostgreSQL: {tps:.0f} commits/s")
    return {"pgbench_commits_per_s": round(tps, 1)}


def main() -> int:
    if not any((Path(p) / "pgbench").exists() for p in os.environ["PATH"].split(":")):
        print("pgbench missing: apt-get install -y postgresql-contrib")
        return 2
    print(f"{os.cpu_count()} cores, shared with other work; load average {os.getloadavg()[0]:.1f}")
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="elsewhere-scaling-") as directory:
        tmp = Path(directory)
        with private_postgres() as pg:
            if pg is None:
                print("no initdb: the private PostgreSQL cannot be made")
                return 2
            url = pg.create_database("scaling")
            cluster = Cluster(tmp, url, 3)
            try:
                cluster.start(cluster.replicas[:1])
                world = cluster.world(THREADS)
                # one heartbeat throughout (a host silent for 15 s loses its placements)
                beat = Load(cluster.urls()[:1], world, 0, writes=False).start()
                for count in (1, 2, 3):
                    if count > 1:
                        cluster.start(cluster.replicas[count - 1 : count])
                    runs.append(measure(cluster, count, world, pg))
                beat.stop()
            finally:
                cluster.stop()
            bare = floor(tmp)
            ceiling = pgbench(pg)
    one = runs[0]["ops_per_s"]
    ratios = {
        "two_over_one": round(runs[1]["ops_per_s"] / one, 3),
        "three_over_one": round(runs[2]["ops_per_s"] / one, 3),
        "one_over_floor": round(one / bare["floor_ops_per_s"], 3),
        "best_over_pgbench": round(
            max(r["ops_per_s"] for r in runs) / ceiling["pgbench_commits_per_s"], 3
        ),
    }
    print(
        f"ratios: 2/1 replicas {ratios['two_over_one']}, 3/1 {ratios['three_over_one']}, "
        f"1 replica / floor {ratios['one_over_floor']}, "
        f"best / pgbench {ratios['best_over_pgbench']}"
    )
    summary = {
        "bench": "scaling",
        "cpus": os.cpu_count(),
        "threads": THREADS,
        "seconds": SECONDS,
        "shared_machine_load_average": round(os.getloadavg()[0], 2),
        "runs": runs,
        **bare,
        **ceiling,
        "ratios": ratios,
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
