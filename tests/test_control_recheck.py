"""Advisories and policy versions in operation: running keeps are re-checked and evicted,
drained or warned about as the policy's [patching] table says; each action is logged."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from control_helpers import DEMO_POLICY, Env, attest_body, control_plane, database_url, wait_for
from elsewhere.cli import main
from elsewhere.control.tenancy.auth import Kind
from elsewhere.host.agent import Outcome
from elsewhere.host.client import ApiFailure, Client
from elsewhere.keep.wat import wat_to_wasm
from elsewhere.ledger.bundle import verify_bundle
from elsewhere.ledger.note import Verifier
from waits import OUTER_TIMEOUT

__all__ = ["database_url"]
POLICY = DEMO_POLICY + '\n[advisories]\nseverity_threshold = "high"\n'
FEED = {
    "schema": "elsewhere.advisories/1",
    "advisories": [
        {
            "id": "AMD-SB-9999",
            "vendor": "AMD",
            "title": "test advisory for every Genoa",
            "severity": "critical",
            "published": "2026-11-01",
            "affected": [{"tee": "sev-snp", "generation": "Genoa"}],
        }
    ],
}


def released_keep(env: Env, threshold: str = "high") -> tuple[Client, str, str]:
    """A Genoa keep admitted (secrets released) and still running (no result yet)."""
    agent = env.agent("genoa", start=False)
    tenant, digest = env.setup_tenant(policy=POLICY.replace('"high"', f'"{threshold}"'))
    deployment = tenant.deploy({"workload": digest, "secrets": ["greeting-key"]})["id"]
    placement = wait_for(agent.client.assignments)[0]["placement"]
    answer = agent.client.attest(placement, attest_body(agent.client, agent.attester, placement))
    assert answer["verdict"] == "affirming"
    return tenant, deployment, placement


def entry(tenant: Client, index: int) -> dict[str, Any]:
    """The entry at `index`, from its offline proof bundle (verified)."""
    bundle = tenant.request("GET", f"/v1/ledger/entries/{index}/bundle").content
    verifier = Verifier.parse(tenant.ledger_key())
    return dict(verify_bundle(bundle, verifier).entry)


def test_critical_advisory_evicts_running_keep(tmp_path: Path, database_url: str | None) -> None:
    with control_plane(tmp_path, database_url) as env:
        tenant, deployment, placement = released_keep(env)
        operator = Client(env.url, env.token(Kind.OPERATOR))
        with pytest.raises(ApiFailure) as not_operator:
            tenant.import_advisories(json.dumps(FEED).encode(), "test")
        assert not_operator.value.status == 403
        with pytest.raises(ApiFailure) as bad:
            operator.import_advisories(b'{"schema": "nope"}', "test")
        assert bad.value.status == 400
        answer = operator.import_advisories(json.dumps(FEED).encode(), "test-feed")
        assert answer["imported"] == ["AMD-SB-9999"]
        [action] = answer["recheck"]
        assert action["placement"] == placement and action["action"] == "evict"
        assert "AMD-SB-9999" in action["reasons"][0]
        view = tenant.deployment(deployment)
        moved = view["placements"][0]
        assert moved["state"] in ("pending", "assigned") and "evicted from genoa" in moved["note"]
        recheck = [d for d in view["decisions"] if d["kind"] == "recheck"]
        assert recheck[0]["action"] == "evict" and recheck[0]["ledger_index"] is not None


def test_new_policy_version_drains_running_keep(tmp_path: Path) -> None:
    with control_plane(tmp_path) as env:
        tenant, deployment, placement = released_keep(env)
        assert placement
        stricter = POLICY.replace('refuse = ["AMD:Milan"]', 'refuse = ["AMD:Milan", "AMD:Genoa"]')
        stricter += '\n[patching]\nother = "drain 1h"\n'
        answer = tenant.set_policy(stricter)
        assert answer["version"] == 2 and answer["ledger_index"] is not None
        [action] = answer["recheck"]
        assert action["action"] == "drain" and action["deadline"] is not None
        assert "platforms.refuse" in action["reasons"][0]
        view = tenant.deployment(deployment)
        assert view["placements"][0]["state"] == "released"  # drains: keeps running for now
        assert "draining genoa" in view["placements"][0]["note"]
        logged = entry(tenant, action["ledger_index"])
        assert logged["kind"] == "host.eviction" and logged["action"] == "drain"
        assert tenant.set_policy(stricter)["unchanged"] is True


def test_operator_cli_imports_advisories_and_lists_hosts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with control_plane(tmp_path) as env:
        released_keep(env)
        feed = tmp_path / "feed.json"
        feed.write_text(json.dumps(FEED))
        api = ["--control", env.url, "--token", env.token(Kind.OPERATOR)]
        assert main(["operator", "advisories", str(feed), *api]) == 0
        out = capsys.readouterr().out
        assert "imported 1 advisories" in out and "evict keep" in out and "AMD-SB-9999" in out
        assert main(["operator", "hosts", *api]) == 0
        assert "AMD sev-snp Genoa (emulated)" in capsys.readouterr().out


def test_low_severity_advisory_keeps_the_keep_with_a_logged_warning(tmp_path: Path) -> None:
    with control_plane(tmp_path) as env:
        tenant, deployment, placement = released_keep(env, threshold="low")
        low = json.loads(json.dumps(FEED))
        low["advisories"][0].update(id="AMD-SB-1111", severity="low")
        operator = Client(env.url, env.token(Kind.OPERATOR))
        [action] = operator.import_advisories(json.dumps(low).encode(), "low")["recheck"]
        assert action["placement"] == placement and action["action"] == "warn"
        assert action["deadline"] is None
        assert tenant.deployment(deployment)["placements"][0]["state"] == "released"
        logged = entry(tenant, action["ledger_index"])
        assert logged["kind"] == "host.warning" and logged["advisory_ids"] == ["AMD-SB-1111"]


def test_waiting_note_keeps_why_the_replica_moved() -> None:
    from elsewhere.control.scheduling.scheduler import waiting_note

    evicted = "evicted from genoa: AMD-SB-9999"
    first = waiting_note(evicted, "no eligible host")
    assert first == "evicted from genoa: AMD-SB-9999 | waiting: no eligible host"
    # Each scheduling round rewrites the waiting part only; the cause stays.
    assert waiting_note(first, "risk_budget") == evicted + " | waiting: risk_budget"
    assert waiting_note(None, "no eligible host") == "waiting: no eligible host"
    assert waiting_note("waiting: x", "y") == "waiting: y"


SPIN = '(module (func (export "_start") (loop $l (br $l))))'  # runs until stopped


def running_keep(env: Env, policy: str = POLICY) -> tuple[Client, str, str]:
    """A Genoa keep, released and running a workload that never ends by itself."""
    env.agent("genoa", generation="Genoa")
    tenant, _ = env.setup_tenant(policy=policy)
    digest = tenant.upload_workload(wat_to_wasm(SPIN), "spin.wasm")["digest"]
    deployment = tenant.deploy(
        {
            "workload": digest,
            "secrets": ["greeting-key"],
            "limits": {"fuel": None, "wall_time_s": 600},
        }
    )["id"]

    def released() -> str | None:
        placement = tenant.deployment(deployment)["placements"][0]
        return str(placement["id"]) if placement["state"] == "released" else None

    return tenant, deployment, wait_for(released)


def stopped_on_the_host(env: Env, placement: str) -> Outcome:
    outcome: Outcome = wait_for(
        lambda: next((o for o in env.outcomes if o.placement == placement), None)
    )
    assert outcome.verdict == "stopped", outcome
    assert outcome.error == "stopped by the host: the control plane withdrew the placement"
    return outcome


def test_an_evicted_keep_is_stopped_on_its_host(tmp_path: Path, database_url: str | None) -> None:
    with control_plane(tmp_path, database_url) as env:
        tenant, deployment, placement = running_keep(env)
        operator = Client(env.url, env.token(Kind.OPERATOR))
        [action] = operator.import_advisories(json.dumps(FEED).encode(), "feed")["recheck"]
        assert action["placement"] == placement and action["action"] == "evict"
        stopped_on_the_host(env, placement)
        assert tenant.deployment(deployment)["placements"][0]["state"] == "pending"


def test_stopping_a_deployment_stops_its_running_keep(tmp_path: Path) -> None:
    with control_plane(tmp_path) as env:
        tenant, deployment, placement = running_keep(env)
        tenant.request("DELETE", f"/v1/deployments/{deployment}")
        stopped_on_the_host(env, placement)
        assert tenant.deployment(deployment)["placements"][0]["state"] == "stopped"


def test_a_draining_keep_runs_until_its_deadline_then_stops(tmp_path: Path) -> None:
    with control_plane(tmp_path) as env:
        tenant, _, placement = running_keep(env)
        stricter = POLICY.replace('refuse = ["AMD:Milan"]', 'refuse = ["AMD:Milan", "AMD:Genoa"]')
        asked = time.monotonic()  # before the request: the 3 s grace starts after this
        [action] = tenant.set_policy(stricter + '\n[patching]\nother = "drain 3s"\n')["recheck"]
        assert action["action"] == "drain"
        stopped_on_the_host(env, placement)
        # Still running for (most of) its grace: the stop reached the host no sooner than
        # 2.5 s after the drain was asked (when it was, not when the test looked).
        assert env.outcome_times[placement] - asked >= 2.5


def test_a_host_shutting_down_stops_its_keeps_promptly(tmp_path: Path) -> None:
    with control_plane(tmp_path) as env:
        _, _, placement = running_keep(env)
        started = time.monotonic()
        env.agents[0].stop()  # without the stop it would wait out the 600 s wall time
        assert time.monotonic() - started < OUTER_TIMEOUT  # 240 s: well short of 600 s
        [outcome] = [o for o in env.outcomes if o.placement == placement]
        assert outcome.verdict == "stopped"
        assert outcome.error == "stopped by the host: the host is shutting down"
