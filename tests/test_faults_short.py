"""The fault campaign's short version (bench/faults.py has the full one): two replicas on a
PRIVATE PostgreSQL cluster (initdb in a temporary directory, its own port; the shared server
is never restarted) under attest-and-release load through round-robin clients; kill -9 of
the lease holder, then an immediate restart of PostgreSQL. After each, every invariant of
bench/invariants.py must hold and service must be back within the campaign's bound. Skips
without initdb, except under CI=true, where it fails instead."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

from cluster import Cluster
from elsewhere.control.scheduling.leases import CHECKPOINTS, SCHEDULER
from faults import KEEPS, RECOVERY_BOUND, recovery, takeover
from invariants import Verdict, check_all
from load import Load
from private_pg import private_postgres
from waits import remaining

pytestmark = pytest.mark.slow


def held(verdicts: list[Verdict]) -> None:
    broken = [v.line() for v in verdicts if not v.held]
    assert not broken, "\n".join(broken)


def test_kill_lease_holder_and_restart_postgres_keep_every_invariant(tmp_path: Path) -> None:
    with private_postgres() as pg:
        if pg is None:
            if os.environ.get("CI") == "true":
                pytest.fail("CI=true but initdb is missing (Debian: postgresql)")
            pytest.skip("no initdb here: the private PostgreSQL cluster cannot be made")
        url = pg.create_database("faults_short")
        cluster = Cluster(tmp_path, url, 2)
        try:
            cluster.start(timeout=remaining())
            world = cluster.world(KEEPS)
            seen: dict[int, bytes] = {}
            load = Load(cluster.urls(), world, KEEPS).start()
            try:
                holder = None
                while holder is None:  # the first round takes both leases
                    holder = cluster.holder(CHECKPOINTS)
                    time.sleep(min(0.1, remaining()))
                moment = time.monotonic()
                holder.kill()
                survivors = [r for r in cluster.replicas if r is not holder]
                first = [takeover(cluster, moment, survivors), recovery(load.tally, moment)]
                assert cluster.holder(SCHEDULER, survivors) is not None
                pg.restart("immediate")
                second = [recovery(load.tally, time.monotonic(), RECOVERY_BOUND)]
            finally:
                tally = load.stop()
            held(first + second)
            assert len(tally.receipts) > 0 and not tally.unexpected, tally.unexpected[:3]
            held(check_all(url, cluster.urls(), world.tenant, tally, seen))
        finally:
            cluster.stop()
