"""Control-plane API over real HTTP on loopback: tenants, tokens, workloads, secrets, policy,
tenant isolation (404 across tenants), bad input (one-line JSON errors), tokens (ES256)."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from control_helpers import DEMO_POLICY, control_plane, database_url, greeter_wasm, wait_for
from elsewhere.cli import main
from elsewhere.control.broker.tokens import b64url_decode, public_key_from_jwk, verify
from elsewhere.control.http import tenant_routes as api_tenant
from elsewhere.control.store.tables import credentials
from elsewhere.control.store.transactions import read
from elsewhere.control.tenancy.auth import Kind, hash_token
from elsewhere.errors import VerificationFailed
from elsewhere.host.client import ApiFailure

__all__ = ["database_url"]


def test_tokens_stored_only_as_hashes(tmp_path: Path) -> None:
    with control_plane(tmp_path) as env:
        tenant = env.tenant("acme")
        token = tenant.http.headers["Authorization"].split()[1]
        assert token.startswith("ewt_") and len(b64url_decode(token[4:])) == 32
        with read(env.cp.engine) as conn:
            rows = conn.execute(select(credentials.c.token_hash)).scalars().all()
        assert hash_token(token) in rows
        assert token.encode() not in (tmp_path / "cp" / "elsewhere.db").read_bytes()
        assert tenant.json("GET", "/v1/whoami")["kind"] == "tenant"
        bad = httpx.get(f"{env.url}/v1/whoami", headers={"Authorization": "Bearer ewt_nope"})
        assert bad.status_code == 401 and bad.json() == {"error": "invalid or revoked token"}
        host = httpx.get(
            f"{env.url}/v1/workloads",
            headers={"Authorization": f"Bearer {env.token(Kind.HOST)}"},
        )
        assert host.status_code == 403


def test_workload_upload_validates_and_names_by_sha384(
    tmp_path: Path, database_url: str | None
) -> None:
    with control_plane(tmp_path, database_url) as env:
        tenant = env.tenant()
        wasm = greeter_wasm()
        stored = tenant.upload_workload(wasm, "g.wasm")
        assert stored["digest"] == hashlib.sha384(wasm).hexdigest()
        assert tenant.upload_workload(wasm, "again.wasm")["id"] == stored["id"]
        for bad, reason in (
            (b"(module)", "not a WebAssembly binary"),
            (b"\x00asm\x01\x00\x00\x00\x01", "validation"),
        ):
            with pytest.raises(ApiFailure) as failure:
                tenant.upload_workload(bad, "bad.wasm")
            assert failure.value.status == 400 and reason in failure.value.message
            assert "\n" not in failure.value.message


def test_bad_input_is_a_one_line_json_error(tmp_path: Path, database_url: str | None) -> None:
    with control_plane(tmp_path, database_url) as env:
        tenant, digest = env.setup_tenant()
        cases = [
            ("PUT", "/v1/policy", {"content": b"version = 1\nname = 'x'\n[tee]\nbogus = 1"}, 400),
            ("POST", "/v1/deployments", {"json": {"workload": digest, "replicas": 0}}, 422),
            ("POST", "/v1/deployments", {"json": {"workload": "ff" * 10}}, 400),
            ("POST", "/v1/deployments", {"json": {"workload": digest, "secrets": ["nope"]}}, 400),
            ("POST", "/v1/deployments", {"json": {"workload": digest, "limits": {"x": 1}}}, 400),
            ("PUT", "/v1/secrets/..bad", {"content": b"v"}, 400),
        ]
        for method, path, kwargs, status in cases:
            response = tenant.http.request(method, path, **kwargs)
            assert response.status_code == status, (path, response.text)
            body = response.json()
            assert set(body) == {"error"} and "\n" not in body["error"] and body["error"]
        host = httpx.Client(
            base_url=env.url, headers={"Authorization": f"Bearer {env.token(Kind.HOST)}"}
        )
        unknown_tee = host.post(
            "/v1/hosts/register", json={"name": "h", "attester": "sgx-foo", "capacity": 1}
        )
        assert unknown_tee.status_code == 400 and "unknown TEE" in unknown_tee.json()["error"]


def test_one_tenant_never_sees_another(tmp_path: Path, database_url: str | None) -> None:
    with control_plane(tmp_path, database_url) as env:
        alice, digest = env.setup_tenant()
        bob = env.tenant("bob")
        deployment = alice.deploy({"workload": digest, "secrets": ["greeting-key"]})["id"]
        assert bob.json("GET", "/v1/workloads") == []
        assert bob.json("GET", "/v1/secrets") == []
        assert bob.json("GET", "/v1/deployments") == []
        probes = [
            ("GET", f"/v1/workloads/{digest}", {}),
            ("GET", f"/v1/deployments/{deployment}", {}),
            ("DELETE", f"/v1/deployments/{deployment}", {}),
            ("DELETE", "/v1/secrets/greeting-key", {}),
            ("GET", "/v1/policy", {}),
            ("GET", "/v1/ledger/entries/0/bundle", {}),
        ]
        for method, path, kwargs in probes:
            response = bob.http.request(method, path, **kwargs)
            assert response.status_code == 404, (path, response.status_code)
            missing = bob.http.request(method, path.replace(deployment, "dep_0000000000000000"))
            assert missing.status_code == 404
        # Deploying another tenant's workload or secret: refused as if they did not exist.
        bob.set_policy(DEMO_POLICY)
        with pytest.raises(ApiFailure, match="no such workload"):
            bob.deploy({"workload": digest})
        bob_digest = bob.upload_workload(greeter_wasm(), "g.wasm")["digest"]
        with pytest.raises(ApiFailure, match="no such secret"):
            bob.deploy({"workload": bob_digest, "secrets": ["greeting-key"]})
        assert alice.json("GET", f"/v1/deployments/{deployment}")["id"] == deployment


def test_secrets_encrypted_at_rest_and_never_listed(tmp_path: Path) -> None:
    secret = b"never-in-clear-7f3a9c"
    with control_plane(tmp_path) as env:
        tenant = env.tenant()
        tenant.put_secret("api-key", secret)
        listed = tenant.json("GET", "/v1/secrets")
        assert [s["name"] for s in listed] == ["api-key"] and "value" not in listed[0]
    database = (tmp_path / "cp" / "elsewhere.db").read_bytes()
    wal = tmp_path / "cp" / "elsewhere.db-wal"
    assert secret not in database + (wal.read_bytes() if wal.exists() else b"")
    kek = tmp_path / "cp" / "kek"
    assert kek.stat().st_mode & 0o777 == 0o600


def test_attestation_result_token_is_es256_jws(tmp_path: Path) -> None:
    with control_plane(tmp_path) as env:
        jwk = httpx.get(f"{env.url}/.well-known/jwks.json").json()["keys"][0]
        key = public_key_from_jwk(jwk)
        token = env.cp.signer.sign({"verdict": "affirming", "exp": int(time.time()) + 60})
        assert verify(token, key, now=time.time())["verdict"] == "affirming"
        head, body, sig = token.split(".")
        forged = body[:-2] + ("AA" if body[-2:] != "AA" else "BB")
        with pytest.raises(VerificationFailed):
            verify(f"{head}.{forged}.{sig}", key)
        schema = httpx.get(f"{env.url}/openapi.json").json()
        assert "/v1/placements/{placement_id}/attest" in schema["paths"]
        assert httpx.get(f"{env.url}/docs").status_code == 200


def test_a_host_sees_only_its_own_placements(tmp_path: Path, database_url: str | None) -> None:
    with control_plane(tmp_path, database_url) as env:
        owner = env.agent("owner", start=False)
        other = env.agent("other", start=False)
        tenant, digest = env.setup_tenant()
        tenant.deploy({"workload": digest, "replicas": 2, "secrets": ["greeting-key"]})
        mine = {a["placement"] for a in owner.client.assignments()}
        theirs = {a["placement"] for a in other.client.assignments()}
        assert mine and theirs and not mine & theirs
        placement = sorted(mine)[0]
        for method, suffix, body in (
            ("GET", "workload", None),
            ("POST", "nonce", None),
            ("POST", "attest", {"nonce": "00", "keep_public_key": "", "evidence": ""}),
            ("POST", "result", {"isolation": {}}),
        ):
            response = other.client.http.request(
                method, f"/v1/placements/{placement}/{suffix}", json=body
            )
            assert response.status_code == 404, (suffix, response.text)


def test_an_unexpected_error_is_500_and_logged_by_type_only(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A failure nobody foresaw answers one line, and neither the answer nor any log (ours or
    uvicorn's, on stderr) carries its message or a traceback: messages may hold request data."""
    leaked = "request-data-9d41e7"

    def broken(*_: object) -> None:
        raise RuntimeError(f"failed while holding {leaked}")

    monkeypatch.setattr(api_tenant.deps, "deployment_view", broken)
    with control_plane(tmp_path) as env:
        tenant = env.tenant()
        answer = tenant.http.request("GET", "/v1/deployments/dep_0000000000000000")
        assert answer.status_code == 500 and answer.json() == {"error": "internal error"}
        assert tenant.json("GET", "/v1/whoami")["kind"] == "tenant"  # still serving
    logged = capfd.readouterr().err + caplog.text
    assert "internal error: RuntimeError" in caplog.text
    assert leaked not in logged and "Traceback" not in logged


def test_a_revoked_token_is_refused_within_the_cache_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with control_plane(tmp_path) as env:
        tenant = env.tenant("acme")
        assert tenant.json("GET", "/v1/whoami")["name"] == "tenant acme"
        store = ["--data-dir", str(tmp_path / "cp")]
        assert main(["token", "list", *store]) == 0
        listing = capsys.readouterr().out
        (line,) = [row for row in listing.splitlines() if "tenant acme" in row]
        credential = line.split()[0]
        assert credential.startswith("cred_") and "ewt_" not in listing  # never the token
        assert main(["token", "revoke", credential, *store]) == 0
        assert "revoked" in capsys.readouterr().out
        assert main(["token", "revoke", credential, *store]) == 0
        assert "already revoked" in capsys.readouterr().out
        assert main(["token", "revoke", "cred_missing", *store]) == 2
        assert "no such credential" in capsys.readouterr().err
        started = time.monotonic()  # the revocation has committed by now
        let_through: list[float] = []  # when each request still answered 200 was sent

        def refused() -> bool:
            sent = time.monotonic() - started
            status = tenant.http.get("/v1/whoami").status_code
            if status == 200:
                let_through.append(sent)
            return status == 401

        wait_for(refused)
        # Within the cache time (5 s, kept with the test's 1.5 s slack): no request sent later
        # than that was let through. Timed at the send, so slow answers on a loaded machine
        # cannot make a prompt refusal look late.
        latest = max(let_through, default=0.0)
        assert latest < 6.5, f"a request sent {latest:.2f} s after the revocation got through"
        assert "revoked" in tenant.http.get("/v1/whoami").json()["error"]
