"""EAR tokens that say where they were logged: a release's token names the decision's ledger
index and leaf hash, and `elsewhere ear verify --log/--database --key` proves it against a
signed checkpoint — over a live control plane on loopback, SQLite and PostgreSQL."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from control_helpers import (  # noqa: F401
    DEMO_POLICY,
    Env,
    attest_body,
    control_plane,
    database_url,
    greeter_wasm,
)
from elsewhere.cli import main
from elsewhere.control.broker.tokens import Signer, b64url_decode
from elsewhere.control.scheduling import leases
from elsewhere.control.scheduling.maintenance import leased_tick
from elsewhere.control.store.transactions import write
from elsewhere.control.tenancy.tenants import create_tenant
from elsewhere.host.client import Client
from elsewhere.ledger.merkle import leaf_hash
from elsewhere.ledger.note import Signer as NoteSigner
from elsewhere.ledger.note import b64encode
from waits import wait_for


@dataclass(frozen=True)
class Released:
    token: str
    index: int
    tenant_token: str
    deployment: str
    jwks: Path
    vkey: Path


def _release(env: Env, *, schedule: bool = False) -> Released:
    """A fresh tenant's secret greeter released to an emulated SEV-SNP (Genoa) keep."""
    with write(env.cp.engine) as conn:
        made = create_tenant(conn, f"t-{secrets.token_hex(3)}")
    agent = env.agent("genoa", start=False)
    tenant, digest = _tenant_of(env, made.token)
    deployment = tenant.deploy({"workload": digest, "secrets": ["greeting-key"]})["id"]
    if schedule:  # maintenance is off in this test: run its scheduling round once
        assert leased_tick(env.cp)
    placement = wait_for(agent.client.assignments)[0]["placement"]
    answer = agent.client.attest(placement, attest_body(agent.client, agent.attester, placement))
    assert answer["accepted"], answer["reasons"]
    jwks = env.tmp / "jwks.json"
    jwks.write_text(httpx.get(f"{env.url}/.well-known/jwks.json").text)
    vkey = env.tmp / "ledger.vkey"
    vkey.write_text(env.cp.ledger.verifier.vkey() + "\n")
    return Released(answer["token"], answer["ledger_index"], made.token, deployment, jwks, vkey)


def _tenant_of(env: Env, token: str) -> tuple[Client, str]:
    """Env.setup_tenant, for a tenant whose token the test keeps (the CLI's --api-token)."""
    tenant = Client(env.url, token)
    digest = tenant.upload_workload(greeter_wasm(), "secret-greeter.wasm")["digest"]
    tenant.put_secret("greeting-key", b"demo-secret")
    tenant.set_policy(DEMO_POLICY)
    return tenant, digest


def _claims(token: str) -> dict[str, Any]:
    """The payload, unverified (the tests re-sign changed copies)."""
    claims: dict[str, Any] = json.loads(b64url_decode(token.split(".")[1]))
    return claims


def _verify(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["ear", "verify", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err.strip()


def test_a_release_token_names_its_entry_and_is_proved_against_the_log(
    tmp_path: Path,
    database_url: str | None,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    with control_plane(tmp_path, database_url) as env:
        done = _release(env)
        ours = _claims(done.token)["submods"]["keep"]["ear_elsewhere"]
        data = env.cp.ledger.entry_bytes(done.index)
        assert ours["ledger"] == {
            "origin": env.cp.ledger.origin,
            "index": done.index,
            "leaf_hash": leaf_hash(data).hex(),
        }
        assert json.loads(data)["kind"] == "attestation.decision"
        # The decision record holds the same token (signed in the commit that wrote both).
        with httpx.Client(headers={"Authorization": f"Bearer {done.tenant_token}"}) as http:
            view = http.get(f"{env.url}/v1/deployments/{done.deployment}").json()
        assert [d["token"] for d in view["decisions"]] == [done.token]

        common = ["--jwks", str(done.jwks), "--key", str(done.vkey)]
        code, out, err = _verify(
            capsys, done.token, *common, "--log", env.url, "--api-token", done.tenant_token
        )
        assert code == 0, err
        signed = env.cp.ledger.latest_checkpoint()
        assert signed is not None and signed.size > done.index
        assert (
            f"LOGGED: entry {done.index} of {env.cp.ledger.origin}, proved against the "
            f"checkpoint of size {signed.size}, root {b64encode(signed.root)}"
        ) in out.splitlines()[1]
        assert "status: warning" in out  # emulated: released, never affirming
        # The database instead of the route, and the key as a literal vkey line
        literal = done.vkey.read_text().strip()
        database = env.cp.config.database_url
        code, out, err = _verify(
            capsys, done.token, "--jwks", str(done.jwks), "--key", literal, "--database", database
        )
        assert code == 0 and "LOGGED: entry" in out, err

        # Wrong log key: one line, refused
        other = env.tmp / "other.vkey"
        other.write_text(NoteSigner.generate(env.cp.ledger.origin).verifier.vkey())
        code, _, err = _verify(
            capsys, done.token, "--jwks", str(done.jwks), "--key", str(other),
            "--database", database,
        )  # fmt: skip
        assert code == 1 and len(err.splitlines()) == 1, err
        # --key without a place to fetch from, and --log without a tenant token
        code, _, err = _verify(capsys, done.token, *common)
        assert code == 2 and "needs --log or --database" in err
        code, _, err = _verify(capsys, done.token, *common, "--log", env.url, "--api-token", "")
        assert code == 2 and "tenant API token" in err


def _forged(done: Released, tmp: Path, **ledger: Any) -> tuple[str, Path]:
    """The token's claims with its ledger claim changed, re-signed by a test key (a JWKS
    that the relying party was given for it)."""
    claims = _claims(done.token)
    keep = claims["submods"]["keep"]["ear_elsewhere"]
    keep["ledger"] = keep["ledger"] | ledger
    signer = Signer(ec.generate_private_key(ec.SECP256R1()))
    jwks = tmp / f"forger-{secrets.token_hex(3)}.json"
    jwks.write_text(json.dumps({"keys": [signer.jwk]}))
    return signer.sign(claims), jwks


def test_a_token_whose_ledger_claim_is_changed_is_refused(
    tmp_path: Path,
    database_url: str | None,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    with control_plane(tmp_path, database_url) as env:
        done = _release(env)
        fetch = ["--log", env.url, "--api-token", done.tenant_token, "--key", str(done.vkey)]
        # The forger's token verifies as a JWS: the ledger is what refuses it.
        token, jwks = _forged(done, tmp_path)
        assert _verify(capsys, token, "--jwks", str(jwks), *fetch)[0] == 0

        # Another index, the same leaf hash: that index's leaf is another entry's.
        token, jwks = _forged(done, tmp_path, index=done.index + 1)
        code, out, err = _verify(capsys, token, "--jwks", str(jwks), *fetch)
        assert code == 1 and out == "", out
        assert err == (
            f"elsewhere: ledger: entry {done.index + 1} of {env.cp.ledger.origin} is not the "
            "entry the token names (leaf hash differs)"
        )
        # Another index with that entry's own leaf hash: the entry is the secret's release,
        # not this decision.
        release = env.cp.ledger.entry_bytes(done.index + 1)
        token, jwks = _forged(done, tmp_path, index=done.index + 1,
                              leaf_hash=leaf_hash(release).hex())  # fmt: skip
        code, _, err = _verify(capsys, token, "--jwks", str(jwks), *fetch)
        assert code == 1 and "says kind 'secret.release'" in err, err
        # An index the log does not have (for this tenant)
        token, jwks = _forged(done, tmp_path, index=10_000)
        code, _, err = _verify(capsys, token, "--jwks", str(jwks), *fetch)
        assert code == 1 and "not logged" in err and "10000" in err, err
        # ... nor in the database
        database = ["--database", env.cp.config.database_url, "--key", str(done.vkey)]
        code, _, err = _verify(capsys, token, "--jwks", str(jwks), *database)
        assert code == 1 and "not logged" in err and len(err.splitlines()) == 1, err
        # Another log's origin: refused before anything is fetched
        token, jwks = _forged(done, tmp_path, origin="elsewhere.example/other")
        code, _, err = _verify(capsys, token, "--jwks", str(jwks), *fetch)
        assert code == 2 and "no key for elsewhere.example/other" in err, err
        # A token naming no index (as tokens did before): cannot be proved
        token, jwks = _forged(done, tmp_path)
        claims = _claims(token)
        claims["submods"]["keep"]["ear_elsewhere"]["ledger"] = {"origin": env.cp.ledger.origin}
        signer = Signer(ec.generate_private_key(ec.SECP256R1()))
        jwks.write_text(json.dumps({"keys": [signer.jwk]}))
        code, _, err = _verify(capsys, signer.sign(claims), "--jwks", str(jwks), *fetch)
        assert code == 1 and "names no ledger index" in err, err


def test_a_token_no_checkpoint_covers_yet_says_so_in_one_line(
    tmp_path: Path,
    database_url: str | None,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The control plane signs moments after each commit, by the checkpoint-signer lease's
    # holder: here another replica holds the lease and has not signed yet. (No maintenance
    # round either: the test schedules once.)
    with control_plane(tmp_path, database_url, maintenance_interval=3600) as env:
        with write(env.cp.engine) as conn:
            assert leases.hold(conn, leases.CHECKPOINTS, "another-replica", seconds=3600)
        done = _release(env, schedule=True)
        assert env.cp.ledger.latest_checkpoint() is None
        database = env.cp.config.database_url
        argv = [done.token, "--jwks", str(done.jwks), "--key", str(done.vkey)]
        code, out, err = _verify(capsys, *argv, "--database", database)
        assert code == 1 and out == ""
        assert err == (
            f"elsewhere: no signed checkpoint covers index {done.index} yet — try again after "
            "the next checkpoint"
        )
        # The bundle route signs one when none covers the entry; then the database proves it.
        code, out, err = _verify(capsys, *argv, "--log", env.url, "--api-token", done.tenant_token)
        assert code == 0, err
        code, out, err = _verify(capsys, *argv, "--database", database)
        assert code == 0 and f"LOGGED: entry {done.index}" in out, err


def test_a_ledger_claim_that_is_not_one_is_one_line() -> None:
    """Malformed `ear_elsewhere.ledger` claims are unusable input saying where (no server)."""
    from elsewhere.ear.logged import ledger_claim
    from elsewhere.ear.result import parse
    from elsewhere.errors import InputError, VerificationFailed
    from test_ear import DRAFT_EXAMPLE_1

    def ear(ledger: object) -> Any:
        doc = json.loads(json.dumps(DRAFT_EXAMPLE_1))
        doc["submods"] = {"keep": {"ear_status": "affirming", "ear_elsewhere": {"ledger": ledger}}}
        return parse(doc)

    good = {"origin": "example.com/log", "index": 3, "leaf_hash": "ab" * 32}
    assert ledger_claim(ear(good)).leaf_hash == b"\xab" * 32
    for changed, where in (
        ({"index": -1}, "ledger.index: must be a non-negative integer"),
        ({"index": True}, "ledger.index: must be a non-negative integer"),
        ({"leaf_hash": "AB" * 32}, "ledger.leaf_hash: must be 64 lower-case hex"),
        ({"leaf_hash": "zz" * 32}, "ledger.leaf_hash: must be 64 lower-case hex"),
        ({"origin": 7}, "names no ledger origin"),
    ):
        with pytest.raises(InputError, match=where):
            ledger_claim(ear(good | changed))
    with pytest.raises(VerificationFailed, match="names no ledger index"):
        ledger_claim(ear({"origin": "example.com/log"}))
