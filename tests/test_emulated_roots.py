"""Emulated platforms from the CLI, and the control plane's directory of emulated roots (#15,
item 2), over real HTTP on loopback, on SQLite and PostgreSQL: `elsewhere emulate tdx-root |
tdx-collateral` plus `collateral import` make an emulated TDX host attest end to end; a root
copied into the directory while the server runs is trusted without a restart; before that, the
refusal names the emulated root and is not held against the host."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from control_helpers import Env, control_plane, database_url, settled
from elsewhere.attest import make_attester
from elsewhere.cli import main
from elsewhere.control.store.tables import reputation_events
from elsewhere.control.store.transactions import read
from elsewhere.control.tenancy.auth import Kind
from elsewhere.host.agent import HostAgent
from elsewhere.host.client import Client
from waits import wait_for

__all__ = ["database_url"]


def _agent(env: Env, name: str, kind: str, state: Path) -> HostAgent:
    """A host agent whose emulated root the control plane was NOT handed (unlike env.agent):
    only the emulated-roots directory can make it trusted."""
    agent = HostAgent(
        Client(env.url, env.token(Kind.HOST, name)),
        make_attester(kind, state),
        name=name,
        on_outcome=env.outcomes.append,
    )
    agent.register()
    threading.Thread(target=agent.run, args=(0.1,), daemon=True).start()
    env.agents.append(agent)
    return agent


def _deploy(tenant: Client, digest: str) -> str:
    body = {"workload": digest, "secrets": ["greeting-key"], "args": ["greeting-key"]}
    return str(tenant.deploy(body)["id"])


def test_emulate_tdx_commands_attest_end_to_end(
    tmp_path: Path,
    database_url: str | None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("ELSEWHERE_HOME", str(tmp_path / "home"))  # the collateral cache
    platform = tmp_path / "host" / "emulated-tdx"  # where the host's attester keeps it
    assert main(["emulate", "tdx-root", str(platform)]) == 0
    out = capsys.readouterr().out
    assert f"trust anchor: {platform / 'root.pem'}" in out and "no hardware protection" in out
    assert main(["emulate", "tdx-collateral", str(platform), "-o", str(tmp_path / "c.json")]) == 0
    assert f"--trust-emulated-root {platform / 'root.pem'}" in capsys.readouterr().out
    root = str(platform / "root.pem")
    assert (
        main(["collateral", "import", str(tmp_path / "c.json"), "--trust-emulated-root", root]) == 0
    )
    # A quote from the CLI verifies offline with that collateral and root.
    quote = tmp_path / "q.bin"
    assert (
        main(["emulate", "tdx-quote", str(platform), "--report-data", "ab" * 64, "-o", str(quote)])
        == 0
    )
    capsys.readouterr()
    assert main(["evidence", "verify", str(quote), "--trust-emulated-root", root, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["claims"]["emulated"] is True

    roots = tmp_path / "roots"
    roots.mkdir()
    shutil.copy(platform / "root.pem", roots / "tdx-1.pem")
    with control_plane(tmp_path, database_url, emulated_roots_dir=roots) as env:
        _agent(env, "tdx-1", "emulated-tdx", tmp_path / "host")
        tenant, digest = env.setup_tenant()
        view = wait_for(settled(tenant, _deploy(tenant, digest)))
    (placement,) = view["placements"]
    assert placement["state"] == "completed" and placement["host"] == "tdx-1"
    (decision,) = view["decisions"]
    assert decision["verdict"] == "affirming"
    assert decision["claims"]["tee"] == "tdx" and decision["claims"]["emulated"] is True


def _host_events(env: Env, host_id: str) -> list[dict[str, Any]]:
    with read(env.cp.engine) as conn:
        rows = conn.execute(
            select(reputation_events.c.detail).where(reputation_events.c.host_id == host_id)
        ).scalars()
        return [json.loads(detail) for detail in rows if detail]


def test_a_root_added_to_the_directory_is_trusted_without_a_restart(
    tmp_path: Path, database_url: str | None
) -> None:
    roots = tmp_path / "roots"
    roots.mkdir()
    with control_plane(tmp_path, database_url, emulated_roots_dir=roots) as env:
        agent = _agent(env, "genoa", "emulated-snp", tmp_path / "host")
        tenant, digest = env.setup_tenant()
        first = _deploy(tenant, digest)
        refused = wait_for(
            lambda: [d for d in tenant.deployment(first)["decisions"] if d["action"] == "refuse"]
        )
        reason = refused[0]["reasons"][0]
        # It names the root it looked for and says emulated, not "ARK-Genoa … untrusted".
        assert "emulated root 'ARK-Genoa'" in reason and "not among the emulated roots" in reason
        # A root the operator has not added yet is not the host's bad evidence.
        assert agent.host_id is not None
        observed = wait_for(lambda: _host_events(env, agent.host_id or ""))
        assert all(event["accepted"] for event in observed)

        shutil.copy(tmp_path / "host" / "emulated-snp" / "ark.pem", roots / "genoa.pem")
        second = _deploy(tenant, digest)  # the first excluded this host under this policy
        view = wait_for(settled(tenant, second))
    (placement,) = view["placements"]
    assert placement["state"] == "completed" and placement["host"] == "genoa"
    assert view["decisions"][-1]["verdict"] == "affirming"
