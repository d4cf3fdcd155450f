"""End to end over real HTTP on loopback, on SQLite and PostgreSQL: three hosts (emulated Milan,
emulated Genoa, nil), a policy refusing Milan and nil, secrets released only to Genoa's keeps,
results with isolation reports, ledger proofs verified offline, replays refused."""

from __future__ import annotations

import base64
import logging
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from control_helpers import (
    DEMO_POLICY,
    attest_body,
    control_plane,
    database_url,
    settled,
)
from elsewhere.control.broker.tokens import public_key_from_jwk, verify
from elsewhere.control.tenancy.auth import Kind
from elsewhere.crypto.hpke import X25519
from elsewhere.crypto.keyfile import TenantKey
from elsewhere.ear.ar4si import Tier
from elsewhere.ear.result import parse
from elsewhere.evidence.dcap.cache import import_collateral
from elsewhere.host.agent import HostAgent
from elsewhere.host.client import ApiFailure, Client, b64
from elsewhere.ledger.bundle import verify_bundle
from elsewhere.ledger.note import Verifier
from elsewhere.wire import RESULT_INFO, result_aad
from waits import remaining, wait_for

__all__ = ["database_url"]
SECRET = b"s3cret-XYZZY-0451"


def test_deploy_refuses_milan_and_nil_releases_to_genoa(
    tmp_path: Path, database_url: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with control_plane(tmp_path, database_url) as env:
        env.agent("milan", generation="Milan")
        env.agent("genoa", generation="Genoa")
        env.agent("nil", kind="nil")
        tenant, digest = env.setup_tenant(secret=SECRET)
        deployment = tenant.deploy(
            {
                "workload": digest,
                "replicas": 3,
                "secrets": ["greeting-key"],
                "args": ["greeting-key"],
                "env": {"GREETING": "Hi"},
                "stdin": b64(b"tester"),
            }
        )["id"]
        view = wait_for(settled(tenant, deployment))
        for placement in view["placements"]:
            assert placement["state"] == "completed" and placement["host"] == "genoa"
            out = base64.b64decode(placement["result"]["stdout"]).decode()
            assert out.startswith("Hi, tester! I hold secret greeting-key: 17 bytes")
            isolation = placement["result"]["isolation"]
            assert isolation["schema"] == "elsewhere.isolation/1"
            assert "emulated" in str(isolation["workload_from_host"])
        by_host = {d["host"]: d for d in view["decisions"] if d["verdict"] == "contraindicated"}
        assert "platforms.refuse" in by_host["milan"]["reasons"][0]
        assert "tee.accept: tee is nil" in by_host["nil"]["reasons"][0]
        accepted = [d for d in view["decisions"] if d["verdict"] == "affirming"]
        assert len(accepted) == 3 and all(d["host"] == "genoa" for d in accepted)

        # The attestation-result token verifies with the published key and binds the keep.
        jwk = tenant.json("GET", "/.well-known/jwks.json")["keys"][0]
        result = parse(verify(accepted[0]["token"], public_key_from_jwk(jwk)))
        keep = result.submod("keep")
        # released under the policy, but emulated hardware is not affirmed: a warning
        assert result.status is Tier.WARNING and keep.vector["hardware"] == 97
        claims = keep.extension
        assert claims["generation"] == "Genoa"
        assert claims["workload_digest"] == "sha384:" + digest and claims["emulated"] is True
        assert claims["keep_key_digest"] in {p["keep_key_digest"] for p in view["placements"]}
        assert claims["keep_key_suite"] == "mlkem768-x25519"  # the quantum-resistant default
        assert claims["ledger"]["origin"] == tenant.ledger_key().split("+")[0]

        # Each decision's ledger entry is provable offline with only the log's public key.
        verifier = Verifier.parse(tenant.ledger_key())
        for decision in (accepted[0], by_host["milan"]):
            bundle = tenant.request(
                "GET", f"/v1/ledger/entries/{decision['ledger_index']}/bundle"
            ).content
            entry = verify_bundle(bundle, verifier).entry
            assert entry["kind"] == "attestation.decision" and entry["host"] == decision["host"]
        # The secret never appears in clear: not in logs, not in the database.
        assert SECRET not in caplog.text.encode()
        if database_url is None:
            stored = b"".join(p.read_bytes() for p in (tmp_path / "cp").glob("elsewhere.db*"))
            assert SECRET not in stored


def test_replay_is_refused(tmp_path: Path, database_url: str | None) -> None:
    with control_plane(tmp_path, database_url) as env:
        agent, placement = env.waiting_placement()
        body = attest_body(agent.client, agent.attester, placement)
        first = agent.client.attest(placement, body)
        assert first["verdict"] == "affirming" and set(first["secrets"]) == {"greeting-key"}
        with pytest.raises(ApiFailure) as replay:
            agent.client.attest(placement, body)
        assert replay.value.status == 409 and "replay refused" in replay.value.message
        malformed = dict(body, nonce=agent.client.nonce(placement)["nonce"], evidence=b64(b"junk"))
        with pytest.raises(ApiFailure) as bad:
            agent.client.attest(placement, malformed)
        assert bad.value.status == 400 and "\n" not in bad.value.message


def test_results_sealed_to_the_tenant_key(tmp_path: Path) -> None:
    with control_plane(tmp_path) as env:
        env.agent("genoa")
        tenant, digest = env.setup_tenant()
        key = TenantKey.generate()
        deployment = tenant.deploy(
            {
                "workload": digest,
                "secrets": ["greeting-key"],
                "result_key": b64(key.public_bytes()),
            }
        )["id"]
        view = wait_for(settled(tenant, deployment))
        placement = view["placements"][0]
        result = placement["result"]
        assert result["sealed"] is True
        sealed = base64.b64decode(result["stdout"])
        assert b"I hold secret" not in sealed
        clear = key.open(sealed, info=RESULT_INFO, aad=result_aad(placement["id"], "stdout"))
        assert b"I hold secret greeting-key" in clear


def test_evidence_bound_to_another_workload_is_refused(
    tmp_path: Path, database_url: str | None
) -> None:
    with control_plane(tmp_path, database_url) as env:
        agent = env.agent("genoa", start=False)
        tenant, digest = env.setup_tenant()
        deployment = tenant.deploy({"workload": digest, "secrets": ["greeting-key"]})["id"]
        placement = wait_for(agent.client.assignments)[0]["placement"]
        other = "00" * 48  # not the assigned workload
        body = attest_body(agent.client, agent.attester, placement, workload_digest=other)
        answer = agent.client.attest(placement, body)
        assert answer["verdict"] == "contraindicated" and answer["secrets"] == {}
        assert answer["reasons"][0].startswith("binding: report_data")
        view = tenant.deployment(deployment)
        assert view["placements"][0]["state"] == "pending"  # back in the queue
        assert view["decisions"][0]["ledger_index"] is not None


def test_emulated_tdx_host_is_released(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ELSEWHERE_HOME", str(tmp_path / "home"))  # collateral cache
    with control_plane(tmp_path) as env:
        agent = env.agent("tdx-1", kind="emulated-tdx", start=False)
        platform = agent.attester.platform  # type: ignore[attr-defined]
        roots = frozenset({bytes.fromhex(platform.trust_anchor.fingerprint)})
        import_collateral(platform.collateral(), roots)
        threading.Thread(target=agent.run, args=(0.1,), daemon=True).start()
        tenant, digest = env.setup_tenant()
        deployment = tenant.deploy(
            {"workload": digest, "secrets": ["greeting-key"], "args": ["greeting-key"]}
        )["id"]
        view = wait_for(settled(tenant, deployment))
        placement = view["placements"][0]
        assert placement["state"] == "completed" and placement["host"] == "tdx-1"
        [decision] = view["decisions"]
        assert decision["verdict"] == "affirming" and decision["claims"]["tee"] == "tdx"
        assert decision["claims"]["emulated"] is True


def test_the_host_command_runs_keeps_with_the_kem_it_is_given(tmp_path: Path) -> None:
    """`elsewhere host` itself, in its own process, with X25519-only keep keys: the release's
    attestation-result token says which KEM wrapped the secrets, and every claim it makes
    matches the evidence, the workload and the tenant's policy."""
    with control_plane(tmp_path) as env:
        env.attester("emulated-snp", "cli-host", generation="Genoa")  # its root is trusted
        code = "from elsewhere.cli import main; raise SystemExit(main())"
        command = [sys.executable, "-c", code, "host", "--control", env.url]
        command += ["--token", env.token(Kind.HOST, "cli-host"), "--name", "cli-host"]
        command += ["--attester", "emulated-snp", "--generation", "Genoa", "--suite", "x25519"]
        command += ["--state-dir", str(tmp_path / "hosts" / "cli-host")]
        host = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            tenant, digest = env.setup_tenant()
            body = {"workload": digest, "secrets": ["greeting-key"], "args": ["greeting-key"]}
            deployment = tenant.deploy(body)["id"]
            view = wait_for(settled(tenant, deployment))
        finally:
            host.send_signal(signal.SIGINT)
            output = host.communicate(timeout=remaining())[0].decode()
        assert host.returncode == 0, output
        assert "WARNING:" in output and "emulated" in output  # no hardware protection
        (placement,) = view["placements"]
        assert f"placement {placement['id']}: released, exit code 0" in output
        stdout = base64.b64decode(placement["result"]["stdout"]).decode()
        assert "I hold secret greeting-key: 11 bytes" in stdout  # b"demo-secret"
        (decision,) = [d for d in view["decisions"] if d["verdict"] == "affirming"]
        jwk = tenant.json("GET", "/.well-known/jwks.json")["keys"][0]
        result = parse(verify(decision["token"], public_key_from_jwk(jwk)))
        claims = result.submod("keep").extension
        policy = tenant.json("GET", "/v1/policy")
        assert result.submod("keep").policy_ids == (policy["digest"],)
        assert claims["keep_key_suite"] == "x25519"
        assert (claims["tee"], claims["vendor"], claims["generation"]) == (
            "sev-snp",
            "AMD",
            "Genoa",
        )
        assert claims["emulated"] is True and claims["host"] == "cli-host"
        assert claims["workload_digest"] == "sha384:" + digest
        assert claims["policy_digest"] == policy["digest"]
        assert claims["keep_key_digest"] == placement["keep_key_digest"]
        assert claims["placement"] == placement["id"] and claims["deployment"] == deployment


def test_a_policy_can_require_a_quantum_resistant_keep_key(tmp_path: Path) -> None:
    """The host picks its keeps' KEM; a tenant that wants its secrets wrapped only with the
    hybrid refuses a keep key of X25519 alone, and says why."""
    with control_plane(tmp_path) as env:
        policy = DEMO_POLICY + '[binding]\nkeep_key_suites = ["mlkem768-x25519"]\n'
        tenant, digest = env.setup_tenant(policy=policy)
        weak = HostAgent(
            Client(env.url, env.token(Kind.HOST, "weak")),
            env.attester("emulated-snp", "weak", generation="Genoa"),
            name="weak",
            suite=X25519,
        )
        weak.register()
        tenant.deploy({"workload": digest, "secrets": ["greeting-key"]})
        (assignment,) = wait_for(weak.client.assignments)
        outcome = weak.run_assignment(assignment)
        assert outcome.verdict == "contraindicated"
        assert outcome.reasons == [
            "binding.keep_key_suites: keep key suite is x25519, required mlkem768-x25519"
        ]
