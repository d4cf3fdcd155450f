"""Concurrent scheduling passes, on SQLite and PostgreSQL, over real HTTP: many deploy requests
at once (each runs a scheduling pass) must leave exactly one `placement` ledger entry per
placed replica, naming the host it actually got, and never more committed risk than the
tenant's budget. The requests start together on a barrier; one generous outer timeout."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from control_helpers import (
    DEMO_POLICY,
    Env,
    control_plane,
    database_url,
    deploy_valued,
    greeter_wasm,
    postgres_database,
)
from elsewhere.control.config import ControlConfig, ControlPlane
from elsewhere.control.scheduling import assign as riskplace
from elsewhere.control.scheduling import scheduler
from elsewhere.control.store.tables import placements
from elsewhere.control.store.transactions import write
from elsewhere.control.tenancy.auth import Kind
from elsewhere.control.tenancy.deployments import DeployRequest, create_deployment, stop_deployment
from elsewhere.control.tenancy.tenants import create_tenant
from elsewhere.control.tenancy.workloads import store_workload
from elsewhere.control.trust import recheck as recheck_module
from elsewhere.control.trust.policies import store_policy
from elsewhere.host.client import Client
from test_control_recheck import FEED, released_keep
from test_control_scheduler import host as sched_host

__all__ = ["database_url"]

DEPLOYMENTS = 40
PARALLEL = 8
OUTER_TIMEOUT = 240.0
# Hosts that never send a heartbeat stay active for the whole test; no maintenance round runs
# during it, so every scheduling pass is one a deploy request ran.
QUIET = {"heartbeat_timeout": dt.timedelta(hours=1), "maintenance_interval": 3600.0}


def _together(env: Env, tenant: Client, calls: list[Callable[[Client], Any]]) -> list[Any]:
    """Run `calls` on PARALLEL threads (each with its own HTTP client), all released at once."""
    barrier = threading.Barrier(PARALLEL, timeout=OUTER_TIMEOUT)
    token = tenant.http.headers["authorization"].removeprefix("Bearer ")
    share = [calls[i::PARALLEL] for i in range(PARALLEL)]

    def worker(mine: list[Callable[[Client], Any]]) -> list[Any]:
        with Client(env.url, token, timeout=OUTER_TIMEOUT) as client:
            barrier.wait()
            return [call(client) for call in mine]

    with ThreadPoolExecutor(PARALLEL) as pool:
        futures = [pool.submit(worker, mine) for mine in share]
        return [out for future in futures for out in future.result(timeout=OUTER_TIMEOUT)]


def _placement_entries(env: Env) -> list[dict[str, Any]]:
    entries = [env.cp.ledger.entry(i) for i in range(env.cp.ledger.size)]
    return [e for e in entries if e["kind"] == "placement"]


def _deferred(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Passes that failed (a deadlock between overlapping passes, say) and left work behind."""
    return [r.getMessage() for r in caplog.records if "deferred" in r.getMessage()]


def test_concurrent_deployments_log_each_placement_once_with_its_host(
    tmp_path: Path, database_url: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    with control_plane(tmp_path, database_url, **QUIET) as env:
        for name in ("genoa", "turin"):
            env.agent(name, start=False)
        tenant, digest = env.setup_tenant()
        calls = [lambda c: deploy_valued(c, digest, "1") for _ in range(DEPLOYMENTS)]
        ids = _together(env, tenant, calls)
        assert _deferred(caplog) == []
        assert len(set(ids)) == DEPLOYMENTS
        logged = _placement_entries(env)
        per_deployment = Counter(e["workload"] for e in logged)
        assert set(per_deployment) <= set(ids), "an entry for a deployment nobody made"
        for deployment in ids:
            (placement,) = tenant.deployment(deployment)["placements"]
            assert placement["state"] == "assigned", placement["note"]
            mine = [e for e in logged if e["workload"] == deployment]
            assert len(mine) == 1, f"{deployment}: {len(mine)} placement entries"
            assert mine[0]["chosen"] == placement["host"], deployment
            assert placement["risk"]["host"] == placement["host"]


def _risk(placement: dict[str, Any]) -> Decimal:
    return Decimal(placement["risk"]["risk"]["amount"])


def test_concurrent_deployments_never_exceed_the_risk_budget_together(
    tmp_path: Path, database_url: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    with control_plane(tmp_path, database_url, **QUIET) as env:
        env.agent("genoa", start=False)
        tenant, digest = env.setup_tenant()
        # What one such deployment costs: refused under a tiny budget, with the figures of the
        # host it would use; then stopped, so it holds nothing.
        tiny = {"amount": "0.000001", "currency": "USD", "per": "year"}
        tenant.json("PUT", "/v1/risk-budget", json=tiny)
        probe = deploy_valued(tenant, digest, "1000")
        (refused,) = tenant.deployment(probe)["placements"]
        assert refused["state"] == "pending" and refused["risk"]["decision"] == "refused"
        one = _risk(refused)
        tenant.request("DELETE", f"/v1/deployments/{probe}")
        # Room for one of them, not two.
        budget = one * Decimal("1.5")
        room = {"amount": str(budget), "currency": "USD", "per": "year"}
        tenant.json("PUT", "/v1/risk-budget", json=room)
        calls = [lambda c: deploy_valued(c, digest, "1000") for _ in range(PARALLEL)]
        ids = _together(env, tenant, calls)
        assert _deferred(caplog) == []
        placed = [
            p
            for deployment in ids
            for p in tenant.deployment(deployment)["placements"]
            if p["state"] == "assigned"
        ]
        assert len(placed) == 1, f"{len(placed)} placed within a budget with room for one"
        committed = Decimal(tenant.json("GET", "/v1/risk-budget")["committed"]["amount"])
        assert committed <= budget
        assert len(_placement_entries(env)) == 1


# Interleavings: another transaction commits between a pass's read and its write. Only on
# PostgreSQL: on SQLite a second writer waits until the pass has committed, so the window is not
# there. The hook runs inside the pure decision step (risk placement, the re-check verdicts),
# which the pass calls after reading and before writing.


@pytest.mark.postgres
def test_a_placement_stopped_during_the_pass_is_not_logged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with postgres_database() as url, control_plane(tmp_path, url, **QUIET) as env:
        env.agent("genoa", start=False)
        tenant, digest = env.setup_tenant()
        real_place = riskplace.place

        def stop_first(hosts: Any, requests: Any, config: Any) -> Any:
            (request,) = requests
            with write(env.cp.engine) as conn:  # the tenant stops it meanwhile
                assert stop_deployment(conn, request.tenant, request.deployment_id)
            return real_place(hosts, requests, config)

        monkeypatch.setattr(riskplace, "place", stop_first)
        deployment = deploy_valued(tenant, digest, "1")
        (placement,) = tenant.deployment(deployment)["placements"]
        assert placement["state"] == "stopped" and placement["host"] is None
        assert _placement_entries(env) == []


@pytest.mark.postgres
def test_an_eviction_of_a_keep_that_completed_meanwhile_is_not_logged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
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
        operator = Client(env.url, env.token(Kind.OPERATOR))
        answer = operator.import_advisories(json.dumps(FEED).encode(), "feed")
        assert answer["recheck"] == []
        view = tenant.deployment(deployment)
        assert [p["state"] for p in view["placements"]] == ["completed"]
        assert [d for d in view["decisions"] if d["kind"] == "recheck"] == []
        kinds = [env.cp.ledger.entry(i)["kind"] for i in range(env.cp.ledger.size)]
        assert "host.eviction" not in kinds and "advisory.import" in kinds


def test_a_requeue_of_a_placement_that_ended_changes_nothing(tmp_path: Path) -> None:
    """Re-queueing (host lost, drain ended, eviction) only moves a placement still live on its
    host; the caller logs only when it did."""
    cp = ControlPlane.open(ControlConfig.for_dir(tmp_path))
    try:
        with write(cp.engine) as conn:
            tenant = create_tenant(conn, "acme").id
            digest = store_workload(conn, tenant, "g.wasm", greeter_wasm())["digest"]
            store_policy(conn, tenant, DEMO_POLICY)
            genoa, turin = sched_host(conn, "genoa", None), sched_host(conn, "turin", None)
            create_deployment(conn, tenant, DeployRequest(workload=digest, replicas=1))
            [(placement, chosen)] = scheduler.schedule(conn, dt.timedelta(hours=1))
            other = turin if chosen == genoa else genoa
            assert not scheduler.requeue(conn, placement, "moved", host_id=other)
            conn.execute(
                update(placements).where(placements.c.id == placement).values(state="completed")
            )
            assert not scheduler.requeue(conn, placement, "too late")
            row = conn.execute(select(placements).where(placements.c.id == placement)).one()
            assert (row.state, row.host_id, row.attempt) == ("completed", chosen, 0)
    finally:
        cp.close()
