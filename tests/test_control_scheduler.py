"""Placement: spread replicas, skip hosts whose last verified platform the policy refuses,
prefer the lower platform risk, and re-queue the work of hosts that stop sending heartbeats."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from control_helpers import DEMO_POLICY, greeter_wasm
from elsewhere.control.config import ControlConfig, ControlPlane
from elsewhere.control.scheduling import scheduler
from elsewhere.control.scheduling.eligibility import eligibility, risk_rank
from elsewhere.control.store.tables import credentials, hosts, placements
from elsewhere.control.store.transactions import write
from elsewhere.control.tenancy.auth import Credential, Kind, create_credential
from elsewhere.control.tenancy.deployments import DeployRequest, create_deployment
from elsewhere.control.tenancy.hosts import register
from elsewhere.control.tenancy.tenants import create_tenant
from elsewhere.control.tenancy.workloads import store_workload
from elsewhere.control.trust.policies import store_policy
from elsewhere.policy.advisories import AdvisorySet

TIMEOUT = dt.timedelta(seconds=30)


def claims(generation: str, emulated: bool) -> str:
    return json.dumps(
        {
            "vendor": "AMD",
            "tee": "sev-snp",
            "generation": generation,
            "report_version": 3,
            "signer": "VCEK",
            "debug": False,
            "smt": False,
            "emulated": emulated,
            "tcb": {"bootloader": 10, "tee": 0, "snp": 23, "microcode": 84},
        }
    )


def host(conn: Connection, name: str, last: str | None) -> str:
    create_credential(conn, Kind.HOST, name)
    row = conn.execute(select(credentials).where(credentials.c.name == name)).one()
    host_id = register(conn, Credential(row.id, Kind.HOST, None, name), name, "sev-snp", 4)
    conn.execute(update(hosts).where(hosts.c.id == host_id).values(last_claims=last))
    return host_id


def test_schedule_spreads_skips_refused_and_prefers_lower_risk(tmp_path: Path) -> None:
    cp = ControlPlane.open(ControlConfig.for_dir(tmp_path))
    with write(cp.engine) as conn:
        tenant = create_tenant(conn, "acme").id
        digest = store_workload(conn, tenant, "g.wasm", greeter_wasm())["digest"]
        store_policy(conn, tenant, DEMO_POLICY)
        milan = host(conn, "milan", claims("Milan", emulated=True))
        genoa_emulated = host(conn, "genoa-emulated", claims("Genoa", emulated=True))
        genoa = host(conn, "genoa", claims("Genoa", emulated=False))
        create_deployment(conn, tenant, DeployRequest(workload=digest, replicas=3))
        assigned = scheduler.schedule(
            conn, TIMEOUT, eligible=eligibility(AdvisorySet()), rank=risk_rank()
        )
    chosen = [host_id for _, host_id in assigned]
    assert milan not in chosen  # its last verified platform is refused by the policy
    assert chosen[0] == genoa  # lower platform risk than emulated evidence
    assert set(chosen) == {genoa, genoa_emulated}  # spread before piling up
    cp.close()


def test_reap_requeues_work_of_silent_hosts(tmp_path: Path) -> None:
    cp = ControlPlane.open(ControlConfig.for_dir(tmp_path))
    with write(cp.engine) as conn:
        tenant = create_tenant(conn, "acme").id
        digest = store_workload(conn, tenant, "g.wasm", greeter_wasm())["digest"]
        store_policy(conn, tenant, DEMO_POLICY)
        silent = host(conn, "silent", None)
        create_deployment(conn, tenant, DeployRequest(workload=digest, replicas=2))
        assert len(scheduler.schedule(conn, TIMEOUT)) == 2
        past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
        conn.execute(update(hosts).where(hosts.c.id == silent).values(last_seen=past))
        assert scheduler.reap(conn, TIMEOUT) == [silent]
        rows = conn.execute(select(placements)).all()
    assert all(r.state == "pending" and r.host_id is None and r.attempt == 1 for r in rows)
    assert all("lost" in (r.note or "") for r in rows)
    cp.close()
