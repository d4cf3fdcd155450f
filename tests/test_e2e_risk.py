"""Risk-aware placement end to end, over real HTTP: budget refusals, the growth cap, reputation
that follows the chip across re-registration, CUSUM quarantine and its release, placement
entries in the ledger, `risk explain DEPLOYMENT`, and an isolation report the host cannot
forge."""

from __future__ import annotations

import base64
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from control_helpers import Env, attest_body, control_plane, deploy_valued, settled, wait_for
from elsewhere.cli import main
from elsewhere.control.store.tables import hosts
from elsewhere.control.store.transactions import read
from elsewhere.control.tenancy.auth import Kind
from elsewhere.host.agent import HostAgent
from elsewhere.host.client import Client, b64
from elsewhere.ledger.bundle import verify_bundle
from elsewhere.ledger.note import Verifier


def _api(env: Env, tenant: Client) -> list[str]:
    return ["--control", env.url, "--token", tenant.http.headers["Authorization"][7:]]


def _refused(tenant: Client, deployment: str) -> dict[str, Any]:
    """Wait for the first placement's stored decision to be a refusal; return it."""

    def check() -> dict[str, Any] | None:
        risk = tenant.deployment(deployment)["placements"][0]["risk"]
        return risk if risk and risk["decision"] == "refused" else None

    decision: dict[str, Any] = wait_for(check)
    return decision


def _reasons(decision: dict[str, Any]) -> set[str]:
    return {r["reason"] for r in decision["refusals"]}


def test_budget_refusal_and_placement_figures_in_the_ledger(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with control_plane(tmp_path) as env:
        env.agent("genoa", generation="Genoa")
        tenant, digest = env.setup_tenant()
        api = _api(env, tenant)
        assert main(["set-risk-budget", *api]) == 0
        assert "10,000.00 USD per year (the control plane's default)" in capsys.readouterr().out
        assert main(["set-risk-budget", "5000USD/yr", *api]) == 0
        assert "risk budget: 5,000.00 USD per year" in capsys.readouterr().out
        assert main(["set-risk-budget", "5000EUR/yr", *api]) == 2  # one currency per plane
        assert "valued in USD" in capsys.readouterr().err

        # Emulated evidence is priced as unprotected (1/year): 10,000 USD cannot fit 5,000.
        assert (
            main(["deploy", digest, "--secret", "greeting-key", "--impact", "10000USD", *api]) == 0
        )
        big = capsys.readouterr().out.split()[1].rstrip(":")
        decision = _refused(tenant, big)
        assert _reasons(decision) == {"risk_budget"}
        assert float(decision["risk"]["amount"]) > 5000  # the figures of the host it would use
        view = tenant.deployment(big)
        assert view["placements"][0]["state"] == "pending"
        assert "risk budget" in view["placements"][0]["note"]
        assert main(["results", big, *api]) == 0
        shown = capsys.readouterr().out
        assert "placement refused (risk_budget) because risk budget" in shown
        assert "× impact 10,000.00 USD = risk" in shown

        # The same deployment explained from the control plane (tenant token, real HTTP).
        assert main(["risk", "explain", big, *api]) == 1
        explained = capsys.readouterr().out
        assert "impact" in explained and "10000 USD" in explained
        assert "replica 0 (pending): refused (risk_budget)" in explained
        assert "likelihood" in explained and "binding bound" in explained
        assert "risk budget" in explained
        assert main(["risk", "explain", "dep_missing", *api]) == 2

        # A small one is placed; its figures go to the ledger with the placement.
        small = deploy_valued(tenant, digest, "500")
        done = wait_for(settled(tenant, small))
        placed = done["placements"][0]
        assert placed["state"] == "completed" and placed["risk"]["decision"] == "placed"
        figures = placed["risk"]
        # placed before genoa ever attested: weighed by its host id, priced as unprotected
        assert figures["host"] == "genoa" and figures["reputation_key"].startswith("host:")
        risk = float(figures["risk"]["amount"])
        likelihood = float(figures["likelihood"]["total"]["value"])
        assert abs(risk - likelihood * 500) < 0.02 and risk <= 5000
        entries = [env.cp.ledger.entry(i) for i in range(env.cp.ledger.size)]
        logged = [i for i, e in enumerate(entries) if e["kind"] == "placement"]
        mine = [i for i in logged if entries[i]["workload"] == small]
        assert len(mine) == 1
        entry = entries[mine[0]]
        assert entry["chosen"] == "genoa" and entry["tenant"] == figures["tenant"]
        chosen = next(c for c in entry["candidates"] if c["host"] == "genoa")
        assert chosen["impact"] == 500 and abs(chosen["risk"] - risk) < 0.02
        # ... provable offline by the tenant, like its attestation decisions
        verifier = Verifier.parse(tenant.ledger_key())
        bundle = tenant.request("GET", f"/v1/ledger/entries/{mine[0]}/bundle").content
        assert verify_bundle(bundle, verifier).entry["kind"] == "placement"
        # the refused one logged no placement
        assert not [i for i in logged if entries[i]["workload"] == big]


def test_growth_cap_after_small_successes(tmp_path: Path) -> None:
    with control_plane(tmp_path, trial_allowance=100.0) as env:
        env.agent("genoa", generation="Genoa")
        tenant, digest = env.setup_tenant()
        first = deploy_valued(tenant, digest, "100")
        assert wait_for(settled(tenant, first))["placements"][0]["state"] == "completed"
        second = deploy_valued(tenant, digest, "100")
        assert wait_for(settled(tenant, second))["placements"][0]["state"] == "completed"
        # two keeps of 100 done: trust at most doubles, so 1,000 is refused by the growth cap
        big = deploy_valued(tenant, digest, "1000")
        decision = _refused(tenant, big)
        assert "growth_cap" in _reasons(decision)
        text = next(r["text"] for r in decision["refusals"] if r["reason"] == "growth_cap")
        assert "the largest allowed is 200 USD" in text
        assert "growth cap" in tenant.deployment(big)["placements"][0]["note"]


def _host_state(env: Env, name: str) -> str:
    with read(env.cp.engine) as conn:
        return str(conn.execute(select(hosts.c.state).where(hosts.c.name == name)).scalar())


def test_a_host_re_registering_keeps_its_chips_reputation(tmp_path: Path) -> None:
    with control_plane(tmp_path) as env:
        genoa = env.agent("genoa", generation="Genoa")
        tenant, digest = env.setup_tenant()
        first = wait_for(settled(tenant, deploy_valued(tenant, digest, "300")))
        doc = tenant.json("GET", f"/v1/deployments/{first['id']}/risk")
        key = doc["hosts"][0]["reputation_key"]  # once attested: the chip's key
        assert key.startswith("chip:")
        env.silence(genoa)
        wait_for(lambda: _host_state(env, "genoa") == "lost")

        # Same machine (same emulated platform directory, so the same chip), a new name.
        again = HostAgent(
            Client(env.url, env.token(Kind.HOST, "genoa-again")),
            env.attester("emulated-snp", "genoa", generation="Genoa"),
            name="genoa-again",
        )
        again.register()
        threading.Thread(target=again.run, args=(0.1,), daemon=True).start()
        env.agents.append(again)
        second = wait_for(settled(tenant, deploy_valued(tenant, digest, "300")))
        assert second["placements"][0]["host"] == "genoa-again"
        third = wait_for(settled(tenant, deploy_valued(tenant, digest, "300")))
        decision = third["placements"][0]["risk"]
        assert decision["host"] == "genoa-again" and decision["reputation_key"] == key
        assert decision["bound"]["r"] == pytest.approx(2.0, abs=0.01)  # both earlier keeps
        doc = tenant.json("GET", f"/v1/deployments/{third['id']}/risk")
        listed = next(h for h in doc["hosts"] if h["host_id"] == "genoa-again")
        completed = [e for e in listed["events"] if e["kind"] == "keep_completed"]
        assert listed["reputation_key"] == key and len(completed) == 3


def _lie(host: Client, attester: Any, placement: str) -> dict[str, Any]:
    """Evidence that verifies but binds another workload: the host's fault."""
    body = attest_body(host, attester, placement, workload_digest="ab" * 48)
    return host.attest(placement, body)


def test_cusum_quarantine_stops_placements_until_released(tmp_path: Path) -> None:
    with control_plane(tmp_path) as env:
        attester = env.attester("emulated-snp", "liar", generation="Genoa")
        host = Client(env.url, env.token(Kind.HOST, "liar"))
        host_id = host.register("liar", "emulated-snp", 4)["host"]
        beat = threading.Event()

        def heartbeat() -> None:
            while not beat.wait(0.2):
                host.assignments()

        threading.Thread(target=heartbeat, daemon=True).start()
        try:
            tenant, digest = env.setup_tenant()
            for _ in range(2):  # ln(0.10/0.01) = 2.30 per refusal: the second crosses h = 3
                deployment = deploy_valued(tenant, digest, "100")
                placement = tenant.deployment(deployment)["placements"][0]["id"]
                wait_for(lambda p=placement: any(a["placement"] == p for a in host.assignments()))
                answer = _lie(host, attester, placement)
                assert answer["verdict"] == "contraindicated"
                assert any(r.startswith("binding") for r in answer["reasons"])
            blocked = deploy_valued(tenant, digest, "100")
            decision = _refused(tenant, blocked)
            assert _reasons(decision) == {"quarantined"}
            assert not host.assignments()
            doc = tenant.json("GET", f"/v1/deployments/{blocked}/risk")
            assert "CUSUM alarm" in doc["hosts"][0]["quarantined"]

            # The operator lifts the quarantine: placements resume.
            operator = Client(env.url, env.token(Kind.OPERATOR, "ops"))
            listed = operator.json("GET", "/v1/hosts")[0]
            assert listed["id"] == host_id and "CUSUM alarm" in listed["quarantined"]
            assert operator.json("POST", f"/v1/hosts/{host_id}/release")["released"]
            assert operator.json("GET", "/v1/hosts")[0]["quarantined"] is None
            wait_for(lambda: any(a["placement"] for a in host.assignments()))
        finally:
            beat.set()


def test_a_host_cannot_forge_its_isolation_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with control_plane(tmp_path) as env:
        attester = env.attester("emulated-snp", "forger", generation="Genoa")
        host = Client(env.url, env.token(Kind.HOST, "forger"))
        host.register("forger", "emulated-snp", 4)
        tenant, digest = env.setup_tenant()
        deployment = deploy_valued(tenant, digest, "100")
        placement = wait_for(host.assignments)[0]["placement"]
        assert host.attest(placement, attest_body(host, attester, placement))["accepted"]
        forged = {
            "schema": "elsewhere.isolation/1",
            "workload_from_host": {"summary": "hardware-attested AMD sev-snp (verified)"},
        }
        host.result(placement, {"exit_code": 0, "stdout": b64(b"done"), "isolation": forged})
        view = wait_for(settled(tenant, deployment))
        result = view["placements"][0]["result"]
        assert result["isolation"]["workload_from_host"]["summary"].startswith("none: emulated")
        assert result["isolation"]["computed_by"] == "control plane"
        assert result["host_reported_isolation"] == forged
        assert base64.b64decode(result["stdout"]) == b"done"
        assert main(["results", deployment, *_api(env, tenant)]) == 0
        shown = capsys.readouterr().out
        ours, _, theirs = shown.partition("host-reported isolation")
        assert "workload from host: none: emulated" in ours
        assert "hardware-attested" not in ours and "hardware-attested" in theirs


def test_a_tcb_rollback_on_the_same_chip_is_recorded(tmp_path: Path) -> None:
    with control_plane(tmp_path) as env:
        current = env.attester("emulated-snp", "chip", generation="Genoa")
        older = env.attester(
            "emulated-snp",
            "chip",
            generation="Genoa",
            tcb={"bootloader": 1, "tee": 0, "snp": 1, "microcode": 1},
        )
        host = Client(env.url, env.token(Kind.HOST, "downgrader"))
        host.register("downgrader", "emulated-snp", 4)
        tenant, digest = env.setup_tenant()
        seen = []
        for attester in (current, older):
            deployment = deploy_valued(tenant, digest, "100")
            placement = tenant.deployment(deployment)["placements"][0]["id"]
            wait_for(lambda p=placement: any(a["placement"] == p for a in host.assignments()))
            answer = host.attest(placement, attest_body(host, attester, placement))
            assert answer["accepted"], answer["reasons"]
            seen.append(answer["verification"]["claims"]["tcb"])
        assert seen[1]["snp"] < seen[0]["snp"]  # the same chip, presenting an older TCB
        doc = tenant.json("GET", f"/v1/deployments/{deployment}/risk")
        events = doc["hosts"][0]["events"]
        rollback = [e for e in events if e["kind"] == "tcb_rollback"]
        assert len(rollback) == 1 and "snp 1 <" in rollback[0]["note"]
