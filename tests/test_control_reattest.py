"""Continuous attestation (#20, item 2): a running keep re-attests on its policy's schedule and
when a re-check asks, with a fresh nonce and the same keep key; changed evidence or a missed
deadline evicts, each decision in the ledger; last attested times and overdue keeps are shown.

The schedule is driven by marking keeps due in the database (as time passing would), never by
waiting on a short interval; every wait is on state the test reads (tests/waits.py)."""

from __future__ import annotations

import datetime as dt
import json
import secrets
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from control_helpers import DEMO_POLICY, Env, attest_body, control_plane, database_url, wait_for
from elsewhere.attest import AttestError
from elsewhere.claims import Claims, Tee, Vendor
from elsewhere.cli import main
from elsewhere.control.store.tables import placements
from elsewhere.control.store.transactions import read, write
from elsewhere.control.tenancy.auth import Kind
from elsewhere.control.trust.reattest import changes
from elsewhere.crypto.binding import report_data
from elsewhere.crypto.hpke import KeepKey
from elsewhere.host.client import ApiFailure, Client, b64
from elsewhere.keep.wat import wat_to_wasm
from elsewhere.ledger.bundle import verify_bundle
from elsewhere.ledger.note import Verifier
from elsewhere.policy.load import PolicyError, parse_policy
from elsewhere.timeutil import utcnow
from elsewhere.wire import digest_bytes

__all__ = ["database_url"]
POLICY = DEMO_POLICY + '\n[reattestation]\ninterval = "1h"\ngrace = "10m"\n'
SPIN = '(module (func (export "_start") (loop $l (br $l))))'  # runs until stopped
GENOA_FEED = {
    "schema": "elsewhere.advisories/1",
    "advisories": [
        {
            "id": "AMD-SB-4242",
            "vendor": "AMD",
            "title": "test advisory for every Genoa, low",
            "severity": "low",
            "published": "2026-11-01",
            "affected": [{"tee": "sev-snp", "generation": "Genoa"}],
        }
    ],
}


def parse_time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def entry(client: Client, index: int) -> dict[str, Any]:
    bundle = client.request("GET", f"/v1/ledger/entries/{index}/bundle").content
    return dict(verify_bundle(bundle, Verifier.parse(client.ledger_key())).entry)


def move(env: Env, placement: str, **values: dt.datetime) -> None:
    """Time passing for one keep: its due time / deadline moved (no clock is raced)."""
    with write(env.cp.engine) as conn:
        conn.execute(update(placements).where(placements.c.id == placement).values(**values))


def ago(minutes: float) -> dt.datetime:
    return utcnow() - dt.timedelta(minutes=minutes)


def released_by_hand(env: Env, policy: str = POLICY) -> tuple[Client, Any, str, str, KeepKey]:
    """A keep released through the API by the test itself (no agent loop): the test holds the
    keep key and decides every evidence the 'host' sends."""
    agent = env.agent("genoa", start=False)
    tenant, digest = env.setup_tenant(policy=policy)
    deployment = tenant.deploy({"workload": digest, "secrets": ["greeting-key"]})["id"]
    placement = wait_for(agent.client.assignments)[0]["placement"]
    key = KeepKey.generate()
    answer = agent.client.attest(
        placement, attest_body(agent.client, agent.attester, placement, key=key)
    )
    assert answer["verdict"] == "affirming" and answer["secrets"]
    return tenant, agent, deployment, placement, key


def running_keep(env: Env, policy: str = POLICY) -> tuple[Client, str, str]:
    """A keep released to a running agent, running a workload that never ends by itself."""
    env.agent("genoa", generation="Genoa")
    tenant, _ = env.setup_tenant(policy=policy)
    digest = tenant.upload_workload(wat_to_wasm(SPIN), "spin.wasm")["digest"]
    body = {"workload": digest, "secrets": ["greeting-key"]}
    deployment = tenant.deploy(body | {"limits": {"fuel": None, "wall_time_s": 600}})["id"]

    def released() -> str | None:
        placement = tenant.deployment(deployment)["placements"][0]
        return str(placement["id"]) if placement["state"] == "released" else None

    return tenant, deployment, wait_for(released)


def placement_view(tenant: Client, deployment: str) -> dict[str, Any]:
    view: dict[str, Any] = tenant.deployment(deployment)["placements"][0]
    return view


def reattest_decisions(tenant: Client, deployment: str) -> list[dict[str, Any]]:
    return [d for d in tenant.deployment(deployment)["decisions"] if d["kind"] == "reattest"]


# -- the policy --------------------------------------------------------------------------


def test_policy_sets_the_interval_and_grace_and_refuses_bad_values() -> None:
    policy = parse_policy(POLICY)
    assert policy.reattest_interval == dt.timedelta(hours=1)
    assert policy.reattest_grace == dt.timedelta(minutes=10)
    at = utcnow()
    assert policy.reattest_schedule(at) == (
        at + dt.timedelta(hours=1),
        at + dt.timedelta(hours=1, minutes=10),
    )
    assert policy.to_json()["reattestation"] == {"interval_seconds": 3600, "grace_seconds": 600}
    # Without the table the normal form, and so every existing digest, is unchanged.
    plain = parse_policy(DEMO_POLICY)
    assert "reattestation" not in plain.to_json() and plain.reattest_schedule(at) == (None, None)
    assert plain.digest != policy.digest
    for bad, why in (
        ('interval = "5s"', "reattestation.interval: '5s' is shorter than 10 s"),
        ('interval = "soon"', "reattestation.interval: 'soon' is not a duration"),
        ("grace = -1", "reattestation.grace: -1 is not a duration"),
        ('every = "1h"', "reattestation.every: unknown key; allowed: grace, interval"),
    ):
        with pytest.raises(PolicyError) as caught:
            parse_policy(DEMO_POLICY + f"[reattestation]\n{bad}\n", "p.toml")
        assert "\n" not in caught.value.message
        assert f"p.toml:10: {why}" in caught.value.message, caught.value.message


def test_changes_between_accepted_and_fresh_claims() -> None:
    def claims(microcode: int, measurement: str) -> Claims:
        return Claims(
            vendor=Vendor.AMD,
            tee=Tee.SEV_SNP,
            generation="Genoa",
            report_version=3,
            signer="vcek",
            debug=False,
            smt=False,
            report_data="00" * 64,
            measurements={"measurement": measurement},
            tcb={"microcode": microcode, "snp": 23},
        )

    before = claims(84, "aa")
    assert changes(before, claims(84, "aa"), "sha256:k", "sha256:k") == []
    assert changes(before, claims(90, "aa"), "sha256:k", "sha256:k") == []  # newer is fine
    [rollback] = changes(before, claims(83, "aa"), "sha256:k", "sha256:k")
    assert (rollback.rule, rollback.claim, rollback.found) == (
        "reattest.tcb_rollback",
        "tcb.microcode",
        "83",
    )
    [measured] = changes(before, claims(84, "bb"), "sha256:k", "sha256:k")
    assert (measured.rule, measured.found, measured.required) == (
        "reattest.measurement",
        "bb",
        "aa",
    )
    [key] = changes(before, claims(84, "aa"), "sha256:k", "sha256:other")
    assert key.rule == "reattest.keep_key"


# -- the control plane -------------------------------------------------------------------


def test_scheduled_reattestation_is_accepted(tmp_path: Path, database_url: str | None) -> None:
    with control_plane(tmp_path, database_url) as env:
        tenant, deployment, placement = running_keep(env)
        first = placement_view(tenant, deployment)
        attested = parse_time(first["attested_at"])
        assert parse_time(first["reattest_due"]) == attested + dt.timedelta(hours=1)
        assert parse_time(first["reattest_deadline"]) == attested + dt.timedelta(minutes=70)
        assert first["overdue"] is False
        # An hour passes: the keep is due (its deadline not reached), and its agent re-attests.
        move(
            env,
            placement,
            reattest_due=ago(1),
            reattest_deadline=utcnow() + dt.timedelta(minutes=9),
        )
        [renewed] = wait_for(lambda: reattest_decisions(tenant, deployment))
        assert renewed["verdict"] == "affirming" and renewed["action"] == "reattest"
        now = placement_view(tenant, deployment)
        assert now["state"] == "released" and now["overdue"] is False
        assert now["keep_key_digest"] == first["keep_key_digest"]  # the same keep key
        again = parse_time(now["attested_at"])
        assert again > attested
        assert parse_time(now["reattest_due"]) == again + dt.timedelta(hours=1)
        logged = entry(tenant, renewed["ledger_index"])
        assert logged["kind"] == "attestation.decision" and logged["verdict"] == "accepted"
        operator = Client(env.url, env.token(Kind.OPERATOR))
        [host] = operator.json("GET", "/v1/hosts")
        assert parse_time(host["last_attested"]) == again and host["overdue_keeps"] == 0


def test_a_failing_reattestation_is_retried_after_a_growing_wait(tmp_path: Path) -> None:
    """The host's attester fails at re-attestation: the agent asks for a nonce once, not at
    every heartbeat, then again after its wait (doubling), and at once after a success."""
    now = [1000.0]
    with control_plane(tmp_path) as env:
        agent = env.agent("genoa", generation="Genoa", start=False, clock=lambda: now[0])
        tenant, _ = env.setup_tenant(policy=POLICY)
        digest = tenant.upload_workload(wat_to_wasm(SPIN), "spin.wasm")["digest"]
        body = {"workload": digest, "secrets": ["greeting-key"]}
        deployment = tenant.deploy(body | {"limits": {"fuel": None, "wall_time_s": 600}})["id"]
        wait_for(agent.client.assignments)
        agent.poll_once()
        placement = wait_for(
            lambda: (
                placement_view(tenant, deployment)["state"] == "released"
                and placement_view(tenant, deployment)["id"]
            )
        )
        nonces: list[str] = []
        issue = agent.client.nonce

        def counted(placement: str) -> dict[str, Any]:
            nonces.append(placement)
            return issue(placement)

        agent.client.nonce = counted  # type: ignore[method-assign]
        working = agent.attester.attest

        def broken(binding: bytes) -> Any:
            raise AttestError("configfs-tsm: the report could not be read (test)")

        agent.attester.attest = broken
        due = {"reattest_due": ago(1), "reattest_deadline": utcnow() + dt.timedelta(hours=1)}
        move(env, placement, **due)
        agent.interval = 1.0  # a one-second heartbeat: waits of 2, 4, … s (at most 60)
        agent.poll_once()
        assert nonces == [placement]  # tried, failed
        agent.poll_once()
        assert nonces == [placement]  # not again at the next heartbeat
        now[0] += 2.0  # the first wait: two heartbeats
        agent.poll_once()
        assert len(nonces) == 2
        now[0] += 3.9  # the second wait is four
        agent.poll_once()
        assert len(nonces) == 2
        agent.attester.attest = working
        now[0] += 0.1
        agent.poll_once()
        assert len(nonces) == 3
        [renewed] = reattest_decisions(tenant, deployment)
        assert renewed["action"] == "reattest"
        move(env, placement, **due)  # due again: tried at once after a success
        agent.poll_once()
        assert len(nonces) == 4
        assert len(reattest_decisions(tenant, deployment)) == 2


def rolled_back_evidence(agent: Any, placement: str, key: KeepKey) -> dict[str, Any]:
    platform = agent.attester.platform
    agent.attester.tcb = dict(platform.tcb) | {"microcode": platform.tcb["microcode"] - 1}
    return attest_body(agent.client, agent.attester, placement, key=key)


def other_measurement(agent: Any, placement: str, key: KeepKey) -> dict[str, Any]:
    """Evidence of another guest image on the same emulated platform, binding this keep."""
    issued = agent.client.nonce(placement)
    binding = report_data(
        bytes.fromhex(issued["nonce"]),
        key.public_bytes(),
        bytes.fromhex(issued["workload_digest"]),
        digest_bytes(issued["policy_digest"]),
    )
    platform = agent.attester.platform
    report = platform.sign(platform.report(binding, measurement=secrets.token_bytes(48)))
    return {
        "nonce": issued["nonce"],
        "keep_public_key": b64(key.public_bytes()),
        "evidence": b64(report),
        "certificates": b64(platform.cert_table()),
    }


def other_key(agent: Any, placement: str, key: KeepKey) -> dict[str, Any]:
    return attest_body(agent.client, agent.attester, placement, key=KeepKey.generate())


def test_without_continuous_attestation_a_fresh_keep_attests_as_the_first_did(
    tmp_path: Path,
    database_url: str | None,
) -> None:
    """A policy with no [reattestation]: a released placement attested again by its own host
    with a fresh keep key (an agent that restarted) is released to that key, and logged; the
    same call under a [reattestation] policy is refused (test_changed_evidence_evicts)."""
    with control_plane(tmp_path, database_url) as env:
        _, agent, _, placement, _ = released_by_hand(env, policy=DEMO_POLICY)
        fresh = KeepKey.generate()
        answer = agent.client.attest(
            placement, attest_body(agent.client, agent.attester, placement, key=fresh)
        )
        assert answer["verdict"] == "affirming" and answer["secrets"]
        with read(env.cp.engine) as conn:
            digest = conn.execute(
                select(placements.c.keep_key_digest).where(placements.c.id == placement)
            ).scalar_one()
        assert digest == "sha256:" + fresh.public_key.fingerprint()


@pytest.mark.parametrize(
    ("evidence", "rule"),
    [
        (rolled_back_evidence, "reattest.tcb_rollback"),
        (other_measurement, "reattest.measurement"),
        (other_key, "reattest.keep_key"),
    ],
)
def test_changed_evidence_evicts(
    tmp_path: Path, database_url: str | None, evidence: Any, rule: str
) -> None:
    with control_plane(tmp_path, database_url) as env:
        tenant, agent, deployment, placement, key = released_by_hand(env)
        # A running keep is never released again through the first attestation's call.
        with pytest.raises(ApiFailure) as again:
            agent.client.attest(
                placement, attest_body(agent.client, agent.attester, placement, key=key)
            )
        assert again.value.status == 409 and "re-attests" in again.value.args[0]
        answer = agent.client.reattest(placement, evidence(agent, placement, key))
        assert answer["action"] == "evict" and answer["accepted"] is False
        assert "secrets" not in answer
        assert any(reason.startswith(rule + ":") for reason in answer["reasons"]), answer
        moved = placement_view(tenant, deployment)
        assert moved["state"] in ("pending", "assigned") and "evicted from genoa" in moved["note"]
        assert moved["keep_key_digest"] is None and moved["attested_at"] is None
        [decision] = reattest_decisions(tenant, deployment)
        assert decision["action"] == "evict" and decision["ledger_index"] == answer["ledger_index"]
        logged = entry(tenant, answer["ledger_index"])
        assert logged["kind"] == "host.eviction" and logged["action"] == "evict"
        assert rule in logged["reason"]
        refused = entry(tenant, answer["ledger_index"] + 1)
        assert refused["kind"] == "attestation.decision" and refused["verdict"] == "refused"
        # Nothing more to re-attest: the placement is not this host's any more (excluded).
        with pytest.raises(ApiFailure) as late:
            agent.client.reattest(
                placement, attest_body(agent.client, agent.attester, placement, key=key)
            )
        assert late.value.status == 404
        assert len(reattest_decisions(tenant, deployment)) == 1


def test_a_replayed_nonce_changes_nothing(tmp_path: Path) -> None:
    with control_plane(tmp_path) as env:
        tenant, agent, deployment, placement, key = released_by_hand(env)
        body = attest_body(agent.client, agent.attester, placement, key=key)
        assert agent.client.reattest(placement, body)["action"] == "renew"
        with pytest.raises(ApiFailure) as replay:
            agent.client.reattest(placement, body)
        assert replay.value.status == 409 and "replay" in replay.value.args[0]
        assert len(reattest_decisions(tenant, deployment)) == 1


def test_missed_deadline_is_flagged_overdue_then_evicts(
    tmp_path: Path, database_url: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    with control_plane(tmp_path, database_url) as env:
        tenant, agent, deployment, placement, key = released_by_hand(env)
        operator = Client(env.url, env.token(Kind.OPERATOR))
        [host] = operator.json("GET", "/v1/hosts")
        assert host["last_attested"] is not None and host["overdue_keeps"] == 0
        # Due a minute ago; the deadline not yet reached: overdue, still running.
        move(
            env, placement, reattest_due=ago(1), reattest_deadline=utcnow() + dt.timedelta(hours=1)
        )
        assert agent.client.poll()["reattest"] == [placement]
        [host] = operator.json("GET", "/v1/hosts")
        assert host["overdue_keeps"] == 1
        view = placement_view(tenant, deployment)
        assert view["overdue"] is True and view["state"] == "released"
        metrics = httpx.get(env.url + "/metrics").text
        assert "elsewhere_keeps_reattest_overdue 1.0" in metrics
        assert f'elsewhere_host_last_attested_timestamp_seconds{{host="{host["id"]}"}}' in metrics
        api = ["--control", env.url, "--token", env.token(Kind.OPERATOR)]
        assert main(["operator", "hosts", *api]) == 0
        assert "1 overdue" in capsys.readouterr().out
        assert main(["operator", "hosts", "--json", *api]) == 0
        assert json.loads(capsys.readouterr().out)[0]["overdue_keeps"] == 1
        # The deadline passes: the maintenance round evicts the keep.
        move(env, placement, reattest_deadline=ago(0.5))
        wait_for(lambda: placement_view(tenant, deployment)["state"] != "released")
        [decision] = reattest_decisions(tenant, deployment)
        assert decision["action"] == "evict"
        assert decision["reasons"][0].startswith("reattest.deadline:")
        logged = entry(tenant, decision["ledger_index"])
        assert logged["kind"] == "host.eviction" and "reattest.deadline" in logged["reason"]
        assert operator.json("GET", "/v1/hosts")[0]["overdue_keeps"] == 0
        assert "elsewhere_keeps_reattest_overdue 0.0" in httpx.get(env.url + "/metrics").text
        with pytest.raises(ApiFailure) as late:
            agent.client.reattest(
                placement, attest_body(agent.client, agent.attester, placement, key=key)
            )
        assert late.value.status == 404


def test_advisory_import_and_policy_change_ask_for_reattestation(
    tmp_path: Path, database_url: str | None
) -> None:
    with control_plane(tmp_path, database_url) as env:
        tenant, deployment, placement = running_keep(env, policy=DEMO_POLICY)
        assert placement_view(tenant, deployment)["reattest_due"] is None  # no interval
        operator = Client(env.url, env.token(Kind.OPERATOR))
        milan = json.loads(json.dumps(GENOA_FEED))
        milan["advisories"][0].update(
            id="AMD-SB-4343", affected=[{"tee": "sev-snp", "generation": "Milan"}]
        )
        unaffected = operator.import_advisories(json.dumps(milan).encode(), "milan")
        assert unaffected["reattest"] == [] and unaffected["recheck"] == []
        # Low severity, no threshold: the keep is not refused, but must show fresh evidence.
        answer = operator.import_advisories(json.dumps(GENOA_FEED).encode(), "genoa")
        assert answer["recheck"] == [] and answer["reattest"] == [placement]
        [renewed] = wait_for(lambda: reattest_decisions(tenant, deployment))
        assert renewed["verdict"] == "affirming"
        view = placement_view(tenant, deployment)
        assert view["state"] == "released" and view["reattest_due"] is None
        assert entry(tenant, renewed["ledger_index"])["verdict"] == "accepted"
        # A new policy version: the keep re-attests, binding the new policy's digest.
        changed = tenant.set_policy(DEMO_POLICY.replace('revision = "1"', 'revision = "2"'))
        assert changed["reattest"] == [placement]
        wait_for(lambda: len(reattest_decisions(tenant, deployment)) == 2)
        latest = reattest_decisions(tenant, deployment)
        assert {d["policy_digest"] for d in latest} >= {changed["digest"]}
        assert placement_view(tenant, deployment)["state"] == "released"
