"""Faults: a host that vanishes mid-deployment, and a control plane killed with SIGKILL while
it releases secrets (a real uvicorn subprocess): nothing committed is lost, and every release
is either complete (placement, decision, ledger entry, spent nonce) or absent."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select, update

from control_helpers import (
    DEMO_POLICY,
    attest_body,
    control_plane,
    database_url,
    greeter_wasm,
    settled,
)
from elsewhere.attest import make_attester
from elsewhere.control.config import ControlConfig, ControlPlane
from elsewhere.control.serve.server import free_port
from elsewhere.control.store.tables import decisions, hosts, nonces, placements, reputation_events
from elsewhere.control.store.transactions import read, write
from elsewhere.control.tenancy.auth import Kind, create_credential
from elsewhere.control.tenancy.tenants import create_tenant
from elsewhere.host.agent import HostAgent
from elsewhere.host.client import ApiFailure, Client
from elsewhere.ledger.log import Ledger
from elsewhere.timeutil import utcnow
from waits import join, remaining, wait_for

__all__ = ["database_url"]


def test_vanished_host_work_is_rescheduled(tmp_path: Path) -> None:
    with control_plane(tmp_path) as env:
        ghost = env.agent("ghost", start=False)  # registers, then never polls again
        tenant, digest = env.setup_tenant()
        deployment = tenant.deploy({"workload": digest, "secrets": ["greeting-key"]})["id"]
        assert tenant.deployment(deployment)["placements"][0]["host"] == "ghost"
        env.agent("genoa")
        env.silence(ghost)
        view = wait_for(settled(tenant, deployment))
        placement = view["placements"][0]
        assert placement["host"] == "genoa" and placement["state"] == "completed"
        assert placement["attempt"] == 1
        hosts = {h["name"]: h["state"] for h in env_hosts(env)}
        assert hosts["ghost"] == "lost"
        assert ghost.host_id is not None


def test_a_host_lost_after_release_loses_the_keep_and_its_result(
    tmp_path: Path, database_url: str | None
) -> None:
    """A host that vanishes while its keep runs (secrets released): after the heartbeat
    timeout the placement runs again elsewhere, the lost keep counts against the host's
    reputation, and a result it sends later is refused."""
    with control_plane(tmp_path, database_url) as env:
        ghost = env.agent("ghost", start=False)
        tenant, digest = env.setup_tenant()
        deployment = tenant.deploy({"workload": digest, "secrets": ["greeting-key"]})["id"]
        (assignment,) = wait_for(ghost.client.assignments)
        placement = assignment["placement"]
        answer = ghost.client.attest(
            placement, attest_body(ghost.client, ghost.attester, placement)
        )
        assert answer["accepted"]
        assert tenant.deployment(deployment)["placements"][0]["state"] == "released"
        # The ghost falls silent; a healthy host is there to take the work.
        env.agent("genoa", generation="Genoa")
        env.silence(ghost)
        view = wait_for(settled(tenant, deployment))
        (moved,) = view["placements"]
        assert moved["host"] == "genoa" and moved["state"] == "completed"
        assert moved["attempt"] == 1  # the one re-queue, from the lost host
        assert {h["name"]: h["state"] for h in env_hosts(env)}["ghost"] == "lost"
        with read(env.cp.engine) as conn:
            kinds = [
                r.kind
                for r in conn.execute(
                    select(reputation_events.c.kind).where(
                        reputation_events.c.host_id == ghost.host_id
                    )
                )
            ]
        assert kinds.count("keep_lost") == 1 and kinds.count("heartbeat_missed") == 1
        late = ghost.client.http.request(
            "POST", f"/v1/placements/{placement}/result", json={"isolation": {}}
        )
        assert late.status_code == 404, late.text  # the work is now genoa's, not the ghost's


def env_hosts(env: object) -> list[dict[str, str]]:
    operator = Client(env.url, env.token(Kind.OPERATOR))  # type: ignore[attr-defined]
    hosts: list[dict[str, str]] = operator.json("GET", "/v1/hosts")
    return hosts


def _serve(
    data: Path, port: int, root: Path, database: str | None, workers: int = 1
) -> subprocess.Popen[bytes]:
    code = "from elsewhere.cli import main; raise SystemExit(main())"
    command = [sys.executable, "-c", code, "serve", "--data-dir", str(data), "--port", str(port)]
    command += ["--workers", str(workers)]
    if database:
        command += ["--database", database]
    log = (data.parent / "serve.log").open("ab")  # the server's own output, for greps
    process = subprocess.Popen(
        [*command, "--trust-emulated-root", str(root)], stdout=log, stderr=subprocess.STDOUT
    )
    log.close()
    wait_for(lambda: _up(port, process))
    return process


def _up(port: int, process: subprocess.Popen[bytes]) -> bool:
    """Readiness: /healthz answers (a server that exited fails at once, not at the timeout)."""
    assert process.poll() is None, f"serve exited with {process.returncode} before answering"
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=remaining()).status_code == 200
    except httpx.HTTPError:
        return False


def _stay_live(data: Path, database: str | None) -> None:
    """Keep the hosts live for the rest of the test: their last heartbeat moves an hour
    ahead. `serve` has a 15 s heartbeat timeout and no flag for it; without this a slow
    release loop or restart on a loaded machine would requeue the released keeps mid-test,
    which is the heartbeat's job, not what this test is about."""
    cp = ControlPlane.open(ControlConfig.for_dir(data, database))
    try:
        with write(cp.engine) as conn:
            conn.execute(update(hosts).values(last_seen=utcnow() + dt.timedelta(hours=1)))
    finally:
        cp.close()


def test_sigkill_during_releases_loses_nothing(tmp_path: Path, database_url: str | None) -> None:
    data = tmp_path / "cp"
    cp = ControlPlane.open(ControlConfig.for_dir(data, database_url))
    attester = make_attester("emulated-snp", tmp_path / "genoa", generation="Genoa")
    with write(cp.engine) as conn:
        tenant_token = create_tenant(conn, "acme").token
        host_token = create_credential(conn, Kind.HOST, "genoa")
    cp.close()
    port = free_port()
    root = tmp_path / "genoa" / "emulated-snp" / "ark.pem"
    server = _serve(data, port, root, database_url)
    url = f"http://127.0.0.1:{port}"
    tenant, host = Client(url, tenant_token), Client(url, host_token)
    digest = tenant.upload_workload(greeter_wasm(), "g.wasm")["digest"]
    tenant.put_secret("greeting-key", b"kill-9-secret")
    tenant.set_policy(DEMO_POLICY)
    host.register("genoa", "emulated-snp", 64)
    _stay_live(data, database_url)
    deployment = tenant.deploy({"workload": digest, "replicas": 40, "secrets": ["greeting-key"]})
    assigned = wait_for(lambda: len(host.assignments()) >= 40 and host.assignments())
    _stay_live(data, database_url)  # each poll above was a heartbeat: "now" again
    released: list[str] = []
    bodies: dict[str, dict[str, str]] = {}
    # Set at the fifth acknowledged release (time to kill the server), or when the loop ends
    # before that (then the test fails at once rather than at its outer timeout).
    kill_now = threading.Event()

    def release_loop() -> None:
        try:
            for assignment in assigned:
                placement = assignment["placement"]
                body = attest_body(host, attester, placement)
                if host.attest(placement, body)["verdict"] == "affirming":
                    released.append(placement)
                    bodies[placement] = body
                    if len(released) >= 5:
                        kill_now.set()
        except Exception:  # the server died under us
            return
        finally:
            kill_now.set()

    worker = threading.Thread(target=release_loop)
    worker.start()
    assert kill_now.wait(remaining())
    assert len(released) >= 5, f"only {len(released)} releases before the loop ended"
    os.kill(server.pid, signal.SIGKILL)
    server.wait(remaining())
    join(worker)

    # Restart on the same data directory: committed state is all there and consistent.
    server = _serve(data, port, root, database_url)
    try:
        view = tenant.deployment(deployment["id"])
        assert len(view["placements"]) == 40 and tenant.json("GET", "/v1/secrets")
        cp = ControlPlane.open(ControlConfig.for_dir(data, database_url))
        with read(cp.engine) as conn:
            states = {
                row.id: row.state
                for row in conn.execute(select(placements.c.id, placements.c.state))
            }
            release_decisions = conn.execute(
                select(decisions.c.placement_id, decisions.c.ledger_index).where(
                    decisions.c.action == "release"
                )
            ).all()
            spent = conn.execute(
                select(func.count()).select_from(nonces).where(nonces.c.consumed_at.is_not(None))
            ).scalar_one()
        # Every acknowledged release survived; every released placement has its decision,
        # its ledger entry and its spent nonce — and nothing else was half-made.
        assert set(released) <= {p for p, s in states.items() if s == "released"}
        released_now = {p for p, s in states.items() if s == "released"}
        assert {d.placement_id for d in release_decisions} == released_now
        assert spent == len(release_decisions)
        ledger = Ledger(cp.engine, cp.ledger.origin, None)
        assert ledger.audit() == ledger.size
        for decision in release_decisions:
            assert ledger.entry(decision.ledger_index)["kind"] == "attestation.decision"
        cp.close()
        # The nonce of an acknowledged release stays spent across the crash: a replay is refused.
        with pytest.raises(ApiFailure) as replay:
            host.attest(released[0], bodies[released[0]])
        assert replay.value.status == 409 and "replay refused" in replay.value.message
    finally:
        server.kill()
        server.wait(remaining())


def test_host_token_registers_one_host(tmp_path: Path) -> None:
    with control_plane(tmp_path) as env:
        token = env.token(Kind.HOST, "h")
        first = Client(env.url, token).register("h1", "nil", 1)["host"]
        again = Client(env.url, token).register("h1", "nil", 1)["host"]
        assert first == again
        with pytest.raises(ApiFailure) as other:
            Client(env.url, token).json("POST", "/v1/placements/pl_0000000000000000/nonce")
        assert other.value.status == 404
        with pytest.raises(ApiFailure) as as_tenant:
            Client(env.url, token).json("GET", "/v1/deployments")
        assert as_tenant.value.status == 403


def test_two_worker_processes_share_one_store(tmp_path: Path) -> None:
    data = tmp_path / "cp"
    cp = ControlPlane.open(ControlConfig.for_dir(data))
    attester = make_attester("emulated-snp", tmp_path / "genoa", generation="Genoa")
    with write(cp.engine) as conn:
        tenant_token = create_tenant(conn, "acme").token
        host_token = create_credential(conn, Kind.HOST, "genoa")
    cp.close()
    port = free_port()
    root = tmp_path / "genoa" / "emulated-snp" / "ark.pem"
    server = _serve(data, port, root, None, workers=2)
    try:
        url = f"http://127.0.0.1:{port}"
        tenant = Client(url, tenant_token)
        digest = tenant.upload_workload(greeter_wasm(), "g.wasm")["digest"]
        tenant.put_secret("greeting-key", b"two-workers-secret-9f2c")
        tenant.set_policy(DEMO_POLICY)
        agent = HostAgent(Client(url, host_token), attester, name="genoa")
        agent.register()
        threading.Thread(target=agent.run, args=(0.1,), daemon=True).start()
        deployment = tenant.deploy(
            {"workload": digest, "replicas": 6, "secrets": ["greeting-key"]}
        )["id"]
        view = wait_for(settled(tenant, deployment))
        assert all(p["state"] == "completed" for p in view["placements"])
        indexes = sorted(d["ledger_index"] for d in view["decisions"])
        assert len(set(indexes)) == 6  # one ledger, whichever worker logged each release
        agent.stop()
        # The secret is nowhere in clear: not in the server's log, not in the database.
        log = (tmp_path / "serve.log").read_bytes()
        assert b"POST /v1/placements/" in log  # the access log was captured
        stored = b"".join(p.read_bytes() for p in data.glob("elsewhere.db*"))
        assert b"two-workers-secret-9f2c" not in log + stored
    finally:
        server.kill()
        server.wait(remaining())
