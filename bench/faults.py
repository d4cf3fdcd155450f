"""A bounded fault campaign (issue #20, item 3): three `elsewhere serve` replicas on a PRIVATE
PostgreSQL cluster (initdb in a temporary directory, its own port: the shared server is never
touched), behind round-robin clients doing attest-and-release, and in turn:

1. kill-replica: kill -9 of a replica that holds no lease (then restarted);
2. kill-lease-holder: kill -9 of the holder of the checkpoint-signer and scheduler leases
   (then restarted); service back and both leases held again by a live replica;
3. postgres-restart: `pg_ctl restart -m immediate` of the private cluster (no shutdown
   checkpoint: it recovers from its WAL, as after a crash);
4. pause-past-lease: the lease holder SIGSTOPped for LEASE_SECONDS + 3 s, then SIGCONTed;
5. sqlite-disk-full: one replica on the SQLite default, its data directory on a small tmpfs
   (`mount -t tmpfs -o size=…`, as root) filled up, then space freed.

After each, every invariant of bench/invariants.py is printed held / BROKEN, and the time to
service back (first release received after the fault) is measured against RECOVERY_BOUND.
The last line is one JSON object. `make faults` runs it; `--faults a,b` runs some of them.
Emulated SEV-SNP attesters: no hardware protection is exercised or claimed.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cluster import Cluster, Replica, World, until
from elsewhere.control.scheduling.leases import CHECKPOINTS, LEASE_SECONDS, SCHEDULER
from invariants import Verdict, check_all
from load import Load, Tally
from private_pg import private_postgres

KEEPS = 4  # concurrent keeps: enough to overlap requests with each fault, light on 2 cores
RUN_BEFORE = 2.0  # seconds of load before each fault
RUN_AFTER = 3.0  # seconds of load after service is back
RECOVERY_BOUND = 15.0  # service back (a release received) within this after the fault
TAKEOVER_BOUND = LEASE_SECONDS + 5.0  # the leases held by a live replica again within this
ALL = ("kill-replica", "kill-lease-holder", "postgres-restart", "pause-past-lease")
SQLITE = "sqlite-disk-full"


def recovery(
    tally: Tally, moment: float, bound: float = RECOVERY_BOUND, what: str = "the fault"
) -> Verdict:
    """The first release of an attempt begun after `moment` (the fault, or the end of it)
    must arrive within `bound` seconds."""
    try:
        first = until(lambda: tally.first_release_after(moment), bound, "a release")
    except TimeoutError:
        return Verdict("service_back", False, f"no release within {bound:.0f} s of {what}")
    took = first - moment
    detail = f"first release {took:.2f} s after {what} (bound {bound:.0f} s)"
    return Verdict("service_back", True, detail)


def takeover(cluster: Cluster, moment: float, among: list[Replica]) -> Verdict:
    def both() -> bool:
        return all(cluster.holder(lease, among) for lease in (CHECKPOINTS, SCHEDULER))

    try:
        until(both, TAKEOVER_BOUND, "lease takeover", every=0.1)
    except TimeoutError:
        return Verdict("leases_taken_over", False, f"not within {TAKEOVER_BOUND:.0f} s")
    took = time.monotonic() - moment
    return Verdict("leases_taken_over", True, f"both held by a live replica {took:.2f} s after")


class Campaign:
    def __init__(self, cluster: Cluster, url: str, world: World) -> None:
        self.cluster, self.url, self.world = cluster, url, world
        self.seen: dict[int, bytes] = {}
        self.results: list[dict[str, Any]] = []

    def fault(self, name: str, inject: Callable[[Load], list[Verdict]]) -> bool:
        print(f"== {name}")
        load = Load(self.cluster.urls(), self.world, KEEPS, heartbeat=False).start()
        time.sleep(RUN_BEFORE)
        started = time.monotonic()
        extra = inject(load)
        time.sleep(RUN_AFTER)
        tally = load.stop()
        verdicts = extra + check_all(
            self.url, self.cluster.urls(), self.world.tenant, tally, self.seen
        )
        for verdict in verdicts:
            print(verdict.line())
        print(
            f"  load: {len(tally.receipts)} releases, {len(tally.acked)} writes acknowledged, "
            f"{tally.replays} retried attests refused as replays, {tally.failovers} failovers, "
            f"{tally.unavailable} rounds with no replica; unexpected: {tally.unexpected[:2]}"
        )
        held = all(v.held for v in verdicts)
        self.results.append(
            {
                "fault": name,
                "held": held,
                "seconds": round(time.monotonic() - started, 1),
                "invariants": {v.name: {"held": v.held, "detail": v.detail} for v in verdicts},
                "releases": len(tally.receipts),
                "acked_writes": len(tally.acked),
                "replays_refused": tally.replays,
                "failovers": tally.failovers,
            }
        )
        return held

    # --- the faults ---------------------------------------------------------------------

    def kill_replica(self, load: Load) -> list[Verdict]:
        holders = {self.cluster.holder(lease) for lease in (CHECKPOINTS, SCHEDULER)}
        victim = next(r for r in self.cluster.replicas if r not in holders)
        moment = time.monotonic()
        victim.kill()
        print(f"  killed {victim.name} (pid {victim.pid}, no lease) with SIGKILL")
        verdicts = [recovery(load.tally, moment)]
        self.cluster.start([victim])
        return verdicts

    def kill_lease_holder(self, load: Load) -> list[Verdict]:
        victims = []
        for lease in (CHECKPOINTS, SCHEDULER):
            holder = until(lambda lease=lease: self.cluster.holder(lease), 30, f"{lease} holder")
            if holder not in victims:
                victims.append(holder)
        moment = time.monotonic()
        for victim in victims:
            victim.kill()
        names = ", ".join(v.name for v in victims)
        print(f"  killed the lease holder(s) {names} with SIGKILL")
        survivors = [r for r in self.cluster.replicas if r not in victims]
        verdicts = [recovery(load.tally, moment), takeover(self.cluster, moment, survivors)]
        self.cluster.start(victims)
        return verdicts

    def postgres_restart(self, load: Load, pg: Any) -> list[Verdict]:
        moment = time.monotonic()
        pg.restart("immediate")
        up = time.monotonic()
        print(
            f"  pg_ctl restart -m immediate: PostgreSQL answering again after {up - moment:.2f} s"
        )
        # From its return: attempts begun between the command and the server going down may
        # still have succeeded, and would hide the outage.
        verdicts = [recovery(load.tally, up, what="PostgreSQL answering again")]
        every = until(
            lambda: all(r.readiness() for r in self.cluster.replicas), 30, "replicas ready"
        )
        verdicts.append(Verdict("replicas_ready", bool(every), "every replica's /readyz is 200"))
        return verdicts

    def pause_past_lease(self, load: Load) -> list[Verdict]:
        victim = until(lambda: self.cluster.holder(CHECKPOINTS), 30, "checkpoint signer")
        moment = time.monotonic()
        victim.pause()
        print(f"  SIGSTOP {victim.name} (checkpoint signer) for {LEASE_SECONDS + 3:.0f} s")
        survivors = [r for r in self.cluster.replicas if r is not victim]
        verdicts = [takeover(self.cluster, moment, survivors), recovery(load.tally, moment)]
        until(lambda: time.monotonic() > moment + LEASE_SECONDS + 3, 60, "pause")
        victim.resume()
        print(f"  SIGCONT {victim.name}")
        back = until(lambda: victim.readiness(), 30, f"{victim.name} ready")
        verdicts.append(Verdict("paused_replica_ready", bool(back), "its /readyz is 200 again"))
        return verdicts


def sqlite_disk_full(tmp: Path) -> dict[str, Any]:
    """One replica on the SQLite default, its data directory on a 24 MiB tmpfs, filled up."""
    print(f"== {SQLITE}")
    mount = tmp / "small-disk"
    mount.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=24m,mode=0700", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        why = mounted.stderr.strip() or f"exit {mounted.returncode}"
        print(f"  not run: mount refused ({why}); no ENOSPC injection is built instead")
        return {"fault": SQLITE, "held": None, "how": "not run", "why": why}
    try:
        return _disk_full(tmp, mount)
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _disk_full(tmp: Path, mount: Path) -> dict[str, Any]:
    data = mount / "cp"
    cluster = Cluster(tmp / "sqlite", None, 1, data_dir=data)
    cluster.start()
    url = f"sqlite:///{data / 'elsewhere.db'}"
    try:
        world = cluster.world(KEEPS)
        load = Load(cluster.urls(), world, KEEPS).start()
        time.sleep(RUN_BEFORE)
        filler = mount / "filler"
        with filler.open("wb") as sink:  # every free block: the next write gets ENOSPC
            try:
                while True:
                    sink.write(b"\0" * (1 << 20))
                    sink.flush()
            except OSError as error:
                print(f"  filled the 24 MiB tmpfs ({error.strerror}); load goes on for 3 s")
        full_at = time.monotonic()
        before = len(load.tally.receipts)
        time.sleep(3.0)
        during = len(load.tally.receipts) - before
        answering = cluster.replicas[0].readiness() is not None or _healthz(cluster.urls()[0])
        filler.unlink()
        freed = time.monotonic()
        print(f"  freed the space after {freed - full_at:.1f} s ({during} releases while full)")
        verdicts = [recovery(load.tally, freed)]
        time.sleep(RUN_AFTER)
        tally = load.stop()
        verdicts.append(
            Verdict("process_survived", answering, "the replica answered while the disk was full")
        )
        verdicts += check_all(url, cluster.urls(), world.tenant, tally, {})
        for verdict in verdicts:
            print(verdict.line())
        statuses = {str(k): v for k, v in sorted(tally.statuses.items())}
        print(f"  5xx answers (failed over): {statuses}; unexpected: {tally.unexpected[:2]}")
        return {
            "fault": SQLITE,
            "held": all(v.held for v in verdicts),
            "how": "tmpfs size=24m filled (real ENOSPC)",
            "invariants": {v.name: {"held": v.held, "detail": v.detail} for v in verdicts},
            "releases": len(tally.receipts),
            "releases_while_full": during,
            "acked_writes": len(tally.acked),
            "statuses_5xx": statuses,
        }
    finally:
        cluster.stop()


def _healthz(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=3).status_code == 200
    except httpx.HTTPError:
        return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--faults", default=",".join((*ALL, SQLITE)))
    options = parser.parse_args()
    chosen = [f for f in options.faults.split(",") if f]
    unknown = [f for f in chosen if f not in (*ALL, SQLITE)]
    if unknown:
        print(f"faults: unknown fault {unknown[0]!r}; choose from {', '.join((*ALL, SQLITE))}")
        return 2
    began = time.monotonic()
    results: list[dict[str, Any]] = []
    setup: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="elsewhere-faults-") as directory:
        tmp = Path(directory)
        if any(f in ALL for f in chosen):
            with private_postgres() as pg:
                if pg is None:
                    print("postgresql faults: not run (no initdb on this machine)")
                else:
                    url = pg.create_database(f"faults_{secrets.token_hex(4)}")
                    cluster = Cluster(tmp, url, 3)
                    try:
                        setup["replicas_ready_s"] = round(cluster.start(), 2)
                        print(
                            f"3 replicas on a private PostgreSQL (port {pg.port}) ready in "
                            f"{setup['replicas_ready_s']} s; {KEEPS} keeps, 1 writer"
                        )
                        world = cluster.world(KEEPS)
                        # The host's heartbeat goes on between faults, while the checks
                        # run: a host silent for 15 s loses its placements.
                        beat = Load(cluster.urls(), world, 0, writes=False).start()
                        campaign = Campaign(cluster, url, world)
                        steps: dict[str, Callable[[Load], list[Verdict]]] = {
                            "kill-replica": campaign.kill_replica,
                            "kill-lease-holder": campaign.kill_lease_holder,
                            "postgres-restart": lambda load: campaign.postgres_restart(load, pg),
                            "pause-past-lease": campaign.pause_past_lease,
                        }
                        for name in ALL:
                            if name in chosen:
                                campaign.fault(name, steps[name])
                        beat.stop()
                        results += campaign.results
                    finally:
                        cluster.stop()
        if SQLITE in chosen:
            if os.geteuid() != 0:
                print(f"== {SQLITE}\n  not run: mounting a small tmpfs needs root")
                results.append({"fault": SQLITE, "held": None, "how": "not run (not root)"})
            else:
                results.append(sqlite_disk_full(tmp))
    broken = [r["fault"] for r in results if r.get("held") is False]
    elapsed = time.monotonic() - began
    print(f"campaign: {len(results)} faults in {elapsed:.0f} s; broken: {broken or 'none'}")
    summary = {
        "bench": "faults",
        "cpus": os.cpu_count(),
        "load_average": round(os.getloadavg()[0], 2),
        "recovery_bound_s": RECOVERY_BOUND,
        "takeover_bound_s": TAKEOVER_BOUND,
        "seconds": round(elapsed, 1),
        "setup": setup,
        "held": not broken,
        "faults": results,
    }
    print(json.dumps(summary))
    return 1 if broken else 0


if __name__ == "__main__":
    raise SystemExit(main())
