"""The guards that keep concurrent state changes from racing, each tried with the interleaving
it exists for, on PostgreSQL (on SQLite a second writer waits for the first to commit, so
these windows are not there): the scheduling pass's advisory lock, reap's re-check of a
host's heartbeat, and the re-check's conditional drain."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select, text, update
from sqlalchemy.engine import Connection

from control_helpers import DEMO_POLICY, control_plane, greeter_wasm, postgres_database
from elsewhere.control.config import ControlConfig, ControlPlane
from elsewhere.control.scheduling import scheduler
from elsewhere.control.store.tables import hosts, placements
from elsewhere.control.store.transactions import read, write
from elsewhere.control.tenancy.deployments import DeployRequest, create_deployment
from elsewhere.control.tenancy.hosts import heartbeat
from elsewhere.control.tenancy.tenants import create_tenant
from elsewhere.control.tenancy.workloads import store_workload
from elsewhere.control.trust import recheck as recheck_module
from elsewhere.control.trust.policies import store_policy
from test_control_recheck import POLICY, released_keep
from test_control_scheduler import host as sched_host
from waits import join, remaining, wait_for

TIMEOUT = dt.timedelta(minutes=1)


def _waiting_for_the_lock(engine: Any) -> int:
    with read(engine) as conn:
        return int(
            conn.execute(
                text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
            ).scalar_one()
        )


@pytest.mark.postgres
def test_two_scheduling_passes_wait_for_each_other_and_assign_once(tmp_path: Path) -> None:
    """A second pass started while the first holds the lock waits on it (it does not read the
    pending rows meanwhile), then finds nothing left: one replica, assigned once."""
    with postgres_database() as url:
        cp = ControlPlane.open(ControlConfig.for_dir(tmp_path, url))
        try:
            with write(cp.engine) as conn:
                tenant = create_tenant(conn, "acme").id
                digest = store_workload(conn, tenant, "g.wasm", greeter_wasm())["digest"]
                store_policy(conn, tenant, DEMO_POLICY)
                sched_host(conn, "genoa", None)
                sched_host(conn, "turin", None)
                create_deployment(conn, tenant, DeployRequest(workload=digest, replicas=1))
            second: list[list[tuple[str, str]]] = []

            def other_pass() -> None:
                with write(cp.engine) as conn:
                    second.append(scheduler.schedule(conn, TIMEOUT))

            with write(cp.engine) as first:
                scheduler.serialise(first)
                thread = threading.Thread(target=other_pass)
                thread.start()
                wait_for(lambda: _waiting_for_the_lock(cp.engine) > 0)
                assigned = scheduler.schedule(first, TIMEOUT)  # the lock taken twice: fine
                assert not second  # still waiting while the first pass is open
            join(thread)
            assert len(assigned) == 1 and second == [[]]
            with read(cp.engine) as conn:
                rows = conn.execute(select(placements.c.state, placements.c.host_id)).all()
            assert [(r.state, r.host_id) for r in rows] == [("assigned", assigned[0][1])]
        finally:
            cp.close()


@pytest.mark.postgres
def test_reap_spares_a_host_whose_heartbeat_came_after_it_looked(tmp_path: Path) -> None:
    """reap reads the silent hosts, then marks each lost only if it is still silent: a
    heartbeat committed in between keeps the host, and its keeps stay where they are."""
    with postgres_database() as url:
        cp = ControlPlane.open(ControlConfig.for_dir(tmp_path, url))
        try:
            with write(cp.engine) as conn:
                tenant = create_tenant(conn, "acme").id
                digest = store_workload(conn, tenant, "g.wasm", greeter_wasm())["digest"]
                store_policy(conn, tenant, DEMO_POLICY)
                silent = sched_host(conn, "silent", None)
                create_deployment(conn, tenant, DeployRequest(workload=digest, replicas=1))
                assert len(scheduler.schedule(conn, TIMEOUT)) == 1
                past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
                conn.execute(update(hosts).where(hosts.c.id == silent).values(last_seen=past))
            beaten: list[bool] = []

            def heartbeat_after_the_read(
                conn: Connection, _cursor: Any, statement: str, *_rest: Any
            ) -> None:
                if not beaten and statement.lstrip().startswith("SELECT cp_hosts.id"):
                    beaten.append(True)
                    with write(cp.engine) as other:  # another worker's heartbeat request
                        heartbeat(other, silent)

            event.listen(cp.engine, "after_cursor_execute", heartbeat_after_the_read)
            try:
                with write(cp.engine) as conn:
                    lost = scheduler.reap(conn, TIMEOUT)
            finally:
                event.remove(cp.engine, "after_cursor_execute", heartbeat_after_the_read)
            assert beaten and lost == []
            with read(cp.engine) as conn:
                state = conn.execute(select(hosts.c.state).where(hosts.c.id == silent))
                assert state.scalar_one() == "active"
                placed = conn.execute(select(placements.c.state, placements.c.host_id)).one()
            assert (placed.state, placed.host_id) == ("assigned", silent)
        finally:
            cp.close()


@pytest.mark.postgres
def test_a_drain_of_a_keep_that_completed_meanwhile_is_not_logged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stricter policy drains running keeps; one whose result arrived between the re-check's
    read and its conditional UPDATE is not drained, and no drain is logged or recorded."""
    with postgres_database() as url, control_plane(tmp_path, url) as env:
        tenant, deployment, placement = released_keep(env)
        real_recheck = recheck_module.recheck

        def complete_first(*args: Any, **kwargs: Any) -> Any:
            with write(env.cp.engine) as conn:  # the keep's result arrives meanwhile
                conn.execute(
                    update(placements).where(placements.c.id == placement).values(state="completed")
                )
            return real_recheck(*args, **kwargs)

        monkeypatch.setattr(recheck_module, "recheck", complete_first)
        stricter = POLICY.replace('refuse = ["AMD:Milan"]', 'refuse = ["AMD:Milan", "AMD:Genoa"]')
        answer = tenant.set_policy(stricter + '\n[patching]\nother = "drain 1h"\n')
        assert answer["version"] == 2 and answer["recheck"] == []
        view = tenant.deployment(deployment)
        (only,) = view["placements"]
        assert only["state"] == "completed" and "draining" not in (only["note"] or "")
        assert [d for d in view["decisions"] if d["kind"] == "recheck"] == []
        kinds = [env.cp.ledger.entry(i)["kind"] for i in range(env.cp.ledger.size)]
        assert "host.eviction" not in kinds
        assert remaining() > 0
