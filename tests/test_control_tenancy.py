"""Tenancy over real HTTP, on SQLite and PostgreSQL: every tenant route tried with another
tenant's names and ids, every role's routes tried with the other roles' tokens, and the risk
document, which speaks of hosts that many tenants share, shown to hold no other tenant's
values, times or words."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import httpx
import pytest

from control_helpers import (
    DEMO_POLICY,
    control_plane,
    database_url,
    deploy_valued,
    settled,
    wait_for,
)
from elsewhere.cli import main
from elsewhere.control.tenancy.auth import Kind
from elsewhere.control.trust.reputation import current_book
from elsewhere.host.client import Client
from elsewhere.risk.reputation import ReputationSnapshot
from elsewhere.timeutil import parse_time

__all__ = ["database_url"]

# Bob's policy under the same name as Alice's: refuse Genoa, the host Alice runs on.
BOB_POLICY = DEMO_POLICY.replace('refuse = ["AMD:Milan"]', 'refuse = ["AMD:Genoa"]')


def _status(client: Client, method: str, path: str, body: object = None) -> int:
    return client.http.request(method, path, json=body).status_code


def test_writes_by_one_tenant_never_touch_anothers(
    tmp_path: Path, database_url: str | None
) -> None:
    with control_plane(tmp_path, database_url) as env:
        alice, digest = env.setup_tenant(secret=b"alice-secret")
        bob = env.tenant("bob")
        alice_policy = alice.json("GET", "/v1/policy")
        deployment = alice.deploy(
            {"workload": digest, "secrets": ["greeting-key"], "args": ["greeting-key"]}
        )["id"]
        # Bob writes under the same names: his own records, never Alice's.
        bob.put_secret("greeting-key", b"bob-overwrites")
        bob.set_policy(BOB_POLICY)
        budget = {"amount": "1", "currency": "USD", "per": "year"}
        assert _status(bob, "PUT", "/v1/risk-budget", budget) == 200
        assert alice.json("GET", "/v1/policy") == alice_policy
        assert alice.json("GET", "/v1/risk-budget")["default"] is True
        assert [s["name"] for s in alice.json("GET", "/v1/secrets")] == ["greeting-key"]
        # ... and Alice's keep still receives Alice's secret.
        env.agent("genoa", generation="Genoa")
        view = wait_for(settled(alice, deployment))
        assert view["placements"][0]["state"] == "completed"
        stdout = base64.b64decode(view["placements"][0]["result"]["stdout"])
        assert b"greeting-key: 12 bytes" in stdout, stdout  # alice-secret, not bob-overwrites
        placement = view["placements"][0]["id"]
        # Every route that names Alice's things answers Bob as if they did not exist.
        for method, path, body in (
            ("GET", f"/v1/deployments/{deployment}", None),
            ("GET", f"/v1/deployments/{deployment}/risk", None),
            ("DELETE", f"/v1/deployments/{deployment}", None),
            ("POST", f"/v1/deployments/{deployment}/stop", None),
            ("POST", f"/v1/placements/{placement}/reports", {"note": "not mine"}),
            ("GET", f"/v1/workloads/{digest}", None),
            ("DELETE", f"/v1/workloads/{digest}", None),
        ):
            assert _status(bob, method, path, body) == 404, path
        assert bob.json("GET", "/v1/deployments") == []
        # Bob deleting "his" greeting-key deletes his own; Alice's stays.
        assert bob.json("DELETE", "/v1/secrets/greeting-key")["deleted"] is True
        assert _status(bob, "DELETE", "/v1/secrets/greeting-key", None) == 404
        assert [s["name"] for s in alice.json("GET", "/v1/secrets")] == ["greeting-key"]
        # Every replica finished: the deployment ended, and nothing Bob did stopped it.
        assert alice.deployment(deployment)["state"] == "completed"
        assert [d["state"] for d in alice.json("GET", "/v1/deployments")] == ["completed"]


def test_each_role_is_refused_on_the_others_routes(tmp_path: Path) -> None:
    with control_plane(tmp_path) as env:
        tenant, digest = env.setup_tenant()
        host = env.agent("genoa", start=False)
        operator = Client(env.url, env.token(Kind.OPERATOR, "ops"))
        deployment = tenant.deploy({"workload": digest, "secrets": ["greeting-key"]})["id"]
        placement = wait_for(host.client.assignments)[0]["placement"]
        host_id = host.host_id
        tenant_routes = [
            ("GET", "/v1/workloads", None),
            ("GET", "/v1/secrets", None),
            ("PUT", "/v1/secrets/x", {"value": "eA=="}),
            ("GET", "/v1/policy", None),
            ("GET", "/v1/deployments", None),
            ("GET", f"/v1/deployments/{deployment}", None),
            ("GET", f"/v1/deployments/{deployment}/risk", None),
            ("GET", "/v1/risk-budget", None),
            ("POST", f"/v1/placements/{placement}/reports", {"note": "x"}),
        ]
        host_routes = [
            ("GET", "/v1/hosts/me/assignments", None),
            ("GET", f"/v1/placements/{placement}/workload", None),
            ("POST", f"/v1/placements/{placement}/nonce", None),
            ("POST", f"/v1/placements/{placement}/attest", {"nonce": "00"}),
            ("POST", f"/v1/placements/{placement}/result", {"isolation": {}}),
        ]
        operator_routes = [
            ("GET", "/v1/hosts", None),
            ("POST", f"/v1/hosts/{host_id}/release", None),
            ("POST", "/v1/advisories", {"schema": "elsewhere.advisories/1", "advisories": []}),
        ]
        for client, refused in (
            (tenant, host_routes + operator_routes),
            (host.client, tenant_routes + operator_routes),
            (operator, tenant_routes + host_routes),
        ):
            for method, path, body in refused:
                answer = client.http.request(method, path, json=body)
                assert answer.status_code == 403, (method, path, answer.status_code)
                assert "token" in answer.json()["error"]
        anonymous = httpx.Client(base_url=env.url)
        for method, path, body in tenant_routes + host_routes + operator_routes:
            assert anonymous.request(method, path, json=body).status_code == 401, path
        # Nothing of that changed the placement: it still waits for its host's evidence.
        assert [a["placement"] for a in host.client.assignments()] == [placement]


def test_risk_document_shows_no_other_tenants_events(
    tmp_path: Path, database_url: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    with control_plane(tmp_path, database_url) as env:
        env.agent("genoa", generation="Genoa")
        alice, digest = env.setup_tenant()
        bob, bob_digest = env.setup_tenant()
        mine = wait_for(settled(alice, deploy_valued(alice, digest, "300")))
        theirs = wait_for(settled(bob, deploy_valued(bob, bob_digest, "777")))
        bob_placement = theirs["placements"][0]["id"]
        note = "bob-private-remark-5c1e"
        assert _status(bob, "POST", f"/v1/placements/{bob_placement}/reports", {"note": note})
        third = deploy_valued(alice, digest, "300")
        decision = wait_for(settled(alice, third))["placements"][0]["risk"]
        assert decision["bound"]["r"] == pytest.approx(2.0, abs=0.01)  # both keeps count

        doc = alice.json("GET", f"/v1/deployments/{third}/risk")
        text = json.dumps(doc)
        assert note not in text and bob_placement not in text and bob_digest not in text
        (host,) = doc["hosts"]
        kinds = [e["kind"] for e in host["events"]]
        assert kinds.count("keep_completed") == 2 and "tenant_report" not in kinds
        assert {e["value"]["amount"] for e in host["events"] if "value" in e} == {"300"}
        # No single keep of Bob's shows: evidence only at Alice's value, the largest keep
        # clamped to it; host-wide sums (value delivered, outstanding) are what remains.
        assert [value for value, _ in host["reputation"]["good"]] == [300.0]
        assert host["reputation"]["max_good"] == 300.0
        assert mine["placements"][0]["state"] == "completed"
        # The aggregate reproduces the bound the decision used, Bob's keep and report included.
        seen = ReputationSnapshot.from_json(
            host["reputation"],
            "reputation",
            host["reputation_key"],
            parse_time(doc["at"]),
            doc["config"]["confidence"],
            None,
        )
        full = current_book(env.cp.engine, env.cp.reputation_cache).snapshot(seen.key, seen.at)
        assert seen.evidence(300.0) == pytest.approx(full.evidence(300.0))
        assert seen.upper_bound(300.0) == pytest.approx(full.upper_bound(300.0))
        r, s = seen.evidence(300.0)
        assert r == pytest.approx(3.0, abs=0.01) and s > 0  # Bob's report weighs against genoa
        for other in (10.0, 299.0, 301.0, 5000.0):  # elsewhere: never more evidence
            assert seen.evidence(other)[0] <= full.evidence(other)[0] + 1e-9

        # Bob sees his own report and keep, and none of Alice's.
        bob_doc = bob.json("GET", f"/v1/deployments/{theirs['id']}/risk")
        bob_events = bob_doc["hosts"][0]["events"]
        assert [e.get("note") for e in bob_events if e["kind"] == "tenant_report"] == [note]
        assert {e["value"]["amount"] for e in bob_events if "value" in e} == {"777"}

        # `risk explain` works from the aggregate, over HTTP, with Alice's token.
        token = alice.http.headers["Authorization"][7:]
        assert main(["risk", "explain", third, "--control", env.url, "--token", token]) == 0
        assert "genoa" in capsys.readouterr().out
