"""Hosts that cannot attest say so (#15, item 3), over real HTTP on loopback, on SQLite and
PostgreSQL: `elsewhere host --attester sev-snp` on a machine without configfs-tsm refuses to
register (exit 5, one line); an agent whose attester fails re-places each replica it is given,
with the reason shown per replica and a ledger entry; after the limit it is given no more."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from control_helpers import Env, control_plane, database_url, settled
from elsewhere.attest import make_attester
from elsewhere.cli import main
from elsewhere.cli.deployment import placement_line
from elsewhere.control.store.tables import hosts, placements
from elsewhere.control.store.transactions import read
from elsewhere.control.tenancy.auth import Kind
from elsewhere.host.agent import HostAgent
from elsewhere.host.client import ApiFailure, Client
from waits import wait_for

__all__ = ["database_url"]
NO_TSM = "/nonexistent/tsm/report"  # this machine's configfs-tsm, as on a host without a TEE


def _count(env: Env, table: object) -> int:
    with read(env.cp.engine) as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def test_the_host_command_refuses_to_register_an_attester_that_cannot_attest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if Path("/sys/kernel/config/tsm/report").exists():
        pytest.skip("this machine has configfs-tsm: the sev-snp attester may work here")
    with control_plane(tmp_path) as env:
        token = env.token(Kind.HOST, "fake-snp")
        argv = ["host", "--control", env.url, "--token", token, "--name", "fake-snp"]
        code = main([*argv, "--attester", "sev-snp"])
        err = capsys.readouterr().err
        assert code == 5, err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and "sev-snp attester cannot produce evidence" in lines[0]
        assert "configfs-tsm" in lines[0]
        assert _count(env, hosts) == 0  # it never registered


def _failing_agent(env: Env, name: str) -> HostAgent:
    agent = HostAgent(
        Client(env.url, env.token(Kind.HOST, name)),
        make_attester("sev-snp", configfs_root=NO_TSM),
        name=name,
        on_outcome=env.outcomes.append,
    )
    env.agents.append(agent)
    agent.register()
    return agent


def test_refusals_re_place_the_replica_and_stop_assignments_at_the_limit(
    tmp_path: Path, database_url: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    with control_plane(tmp_path, database_url, attest_refusal_limit=2) as env:
        fake = _failing_agent(env, "fake-snp")
        tenant, digest = env.setup_tenant()
        body = {"workload": digest, "secrets": ["greeting-key"], "args": ["greeting-key"]}
        ids = []
        for _ in range(2):  # each is given to the only host, which cannot attest
            ids.append(tenant.deploy(body)["id"])
            wait_for(fake.client.assignments)
            (outcome,) = [f.result() for f in fake.poll_once()]
            assert outcome.verdict == "refused" and "configfs-tsm" in (outcome.error or "")
        with read(env.cp.engine) as conn:
            row = conn.execute(select(hosts).where(hosts.c.id == fake.host_id)).one()
        assert row.attest_refusals == 2 and "configfs-tsm" in row.attest_refusal
        operator = ["--control", env.url, "--token", env.token(Kind.OPERATOR)]
        assert main(["operator", "hosts", "--json", *operator]) == 0
        (listed,) = json.loads(capsys.readouterr().out)
        assert (listed["attest_refusals"], listed["assignable"]) == (2, False)
        assert "configfs-tsm" in listed["attest_refusal"]
        assert main(["operator", "hosts", *operator]) == 0
        assert "2 (not assigned)" in capsys.readouterr().out

        ids.append(tenant.deploy(body)["id"])  # at the limit: not given to the host any more
        wait_for(
            lambda: (tenant.deployment(ids[-1])["placements"][0]["note"] or "").startswith(
                "waiting: no eligible host"
            )
        )
        assert fake.client.assignments() == []

        env.agent("genoa", generation="Genoa")  # a host that can attest takes all three
        views = [wait_for(settled(tenant, d)) for d in ids]
    for view in views[:2]:
        (placement,) = view["placements"]
        assert placement["state"] == "completed" and placement["host"] == "genoa"
        assert placement["refusal"].startswith("refused on fake-snp: cannot attest: configfs-tsm")
        assert placement["refusal"].endswith("; re-placed")
        assert placement["refusal"] in placement_line(placement)  # `deployment show` says why
        refusal, release = view["decisions"]
        assert (refusal["host"], refusal["action"]) == ("fake-snp", "refuse")
        assert refusal["reasons"][0].startswith("attester: configfs-tsm")
        entry = env.cp.ledger.entry(refusal["ledger_index"])  # logged with the change
        assert entry["kind"] == "attestation.decision" and entry["verdict"] == "refused"
        assert entry["host"] == "fake-snp" and entry["reasons"] == refusal["reasons"]
        assert release["verdict"] == "affirming" and release["host"] == "genoa"
    assert views[2]["placements"][0]["refusal"] is None


def test_a_refusal_for_another_hosts_placement_is_not_found(
    tmp_path: Path, database_url: str | None
) -> None:
    with control_plane(tmp_path, database_url) as env:
        agent, placement = env.waiting_placement()
        other = _failing_agent(env, "other")
        with pytest.raises(ApiFailure, match="placement"):
            other.client.refuse(placement, "no TEE here")
        with read(env.cp.engine) as conn:
            state = conn.execute(
                select(placements.c.state).where(placements.c.id == placement)
            ).scalar_one()
        assert state == "assigned"  # still the first host's, unchanged
        assert agent.host_id is not None
