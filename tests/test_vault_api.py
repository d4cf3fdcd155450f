"""The vault over real HTTP on loopback (uvicorn), SQLite and PostgreSQL: records in, a
subject's data key out only to an attested keep for a declared purpose, erasure with k-of-n
approval, and the receipt verified with the ledger's published key. The keep's side (opening
the wrapped key and the records) is done here with the keep's own private key, as a keep
would; the evidence is EMULATED (no hardware protection)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from control_helpers import Env, attest_body, control_plane, database_url
from elsewhere.control.tenancy.auth import Kind
from elsewhere.crypto.hpke import KeepKey
from elsewhere.host.client import ApiFailure, Client
from elsewhere.ledger.note import Verifier
from elsewhere.vault import keys, receipts
from elsewhere.vault.keys import VAULT_INFO, release_aad
from waits import wait_for

__all__ = ["database_url"]


def _put(tenant: Client, subject: str, value: bytes, *purposes: str) -> dict[str, Any]:
    body = {
        "subject": subject,
        "purposes": list(purposes),
        "value": base64.b64encode(value).decode(),
    }
    answer: dict[str, Any] = tenant.json("POST", "/v1/vault/records", json=body)
    return answer


def _status(call: Any) -> int:
    with pytest.raises(ApiFailure) as caught:
        call()
    return caught.value.status


def _released(env: Env) -> tuple[Client, Client, str, str, KeepKey]:
    agent = env.agent("genoa", start=False)
    tenant, digest = env.setup_tenant()
    deployment = tenant.deploy({"workload": digest, "secrets": ["greeting-key"]})["id"]
    placement = wait_for(agent.client.assignments)[0]["placement"]
    key = KeepKey.generate()
    body = attest_body(agent.client, agent.attester, placement, key=key)
    assert agent.client.attest(placement, body)["verdict"] == "affirming"
    return agent.client, tenant, deployment, placement, key


def test_a_keep_gets_the_key_only_when_attested_and_for_a_declared_purpose(
    tmp_path: Path, database_url: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ELSEWHERE_VAULT_GRACE_SECONDS", str(7 * 86400))
    monkeypatch.setenv("ELSEWHERE_VAULT_APPROVALS", "2")
    with control_plane(tmp_path, database_url) as env:
        host, tenant, deployment, placement, keep = _released(env)
        gift = _put(tenant, "alice", b"shoe size 38", "gift-matching")
        _put(tenant, "alice", b"alice@example.org", "marketing")
        subject = gift["subject"]

        def release(
            purpose: str = "gift-matching", key: KeepKey = keep, who: Client = host
        ) -> dict[str, Any]:
            body = {
                "placement": placement,
                "subject": "alice",
                "purpose": purpose,
                "keep_public_key": base64.b64encode(key.public_bytes()).decode(),
            }
            answer: dict[str, Any] = who.json("POST", "/v1/vault/release", json=body)
            return answer

        assert _status(release) == 403  # the deployment declared no purpose yet
        declared = tenant.json(
            "PUT",
            f"/v1/vault/deployments/{deployment}/purposes",
            json={"purposes": ["gift-matching"]},
        )
        assert declared["purposes"] == ["gift-matching"]
        assert _status(lambda: release("marketing")) == 403  # not declared
        assert _status(lambda: release(key=KeepKey.generate())) == 403  # not the attested key
        stranger = Client(env.url, env.token(Kind.HOST, "stranger"))
        stranger.json(
            "POST",
            "/v1/hosts/register",
            json={"name": "stranger", "attester": "nil", "capacity": 1},
        )
        assert _status(lambda: release(who=stranger)) == 404  # another host's placement
        assert _status(lambda: tenant.json("POST", "/v1/vault/release", json={})) in (403, 422)

        answer = release()
        data_key = keep.open(
            base64.b64decode(answer["wrapped_key"]),
            info=VAULT_INFO,
            aad=release_aad(placement, subject, "gift-matching"),
        )
        tenant_id = tenant.json("GET", "/v1/whoami")["tenant"]
        opened = [
            keys.open_record(
                data_key,
                base64.b64decode(r["ciphertext"]),
                keys.record_aad(tenant_id, subject, r["id"]),
            )
            for r in answer["records"]
        ]
        assert opened == [b"shoe size 38"]  # only the records collected for the purpose
        entry = env.cp.ledger.entry(answer["ledger_index"])
        assert (entry["kind"], entry["subject"], entry["purpose"]) == (
            "vault.release",
            subject,
            "gift-matching",
        )
        assert entry["keep_key_digest"] == "sha256:" + keep.public_key.fingerprint()

        # Erasure: pending for a week, every use refused; two operators skip the wait.
        pending = tenant.json("POST", "/v1/vault/erase", json={"subject": "alice"})
        assert pending["state"] == "pending"
        assert _status(release) == 409
        assert _status(lambda: _put(tenant, "alice", b"x", "gift-matching")) == 409
        assert (
            _status(lambda: tenant.request("POST", "/v1/vault/receipt", json={"subject": "alice"}))
            == 409
        )
        approvals = {"tenant": tenant_id, "subject_hash": subject}
        first = Client(env.url, env.token(Kind.OPERATOR, "op1"))
        second = Client(env.url, env.token(Kind.OPERATOR, "op2"))
        assert _status(lambda: tenant.json("POST", "/v1/vault/approve", json=approvals)) == 403
        assert first.json("POST", "/v1/vault/approve", json=approvals)["state"] == "pending"
        assert _status(lambda: first.json("POST", "/v1/vault/approve", json=approvals)) == 409
        assert second.json("POST", "/v1/vault/approve", json=approvals)["state"] == "erased"
        assert _status(release) == 409

        data = tenant.request("POST", "/v1/vault/receipt", json={"subject": "alice"}).content
        vkey = Verifier.parse(tenant.json("GET", "/v1/ledger/key")["vkey"])
        assert receipts.verify(data, vkey, "alice").subject_hash == subject
        meta = tenant.json("POST", "/v1/vault/subjects/meta", json={"subject": "alice"})
        assert meta["state"] == "erased" and meta["records"] == []
        other = env.tenant()
        assert (
            _status(
                lambda: other.json("POST", "/v1/vault/subjects/meta", json={"subject": "alice"})
            )
            == 404
        )
        assert env.cp.ledger.audit() == env.cp.ledger.size


def test_malformed_requests_answer_one_line(tmp_path: Path) -> None:
    with control_plane(tmp_path) as env:
        tenant = env.tenant()
        for body in (
            {"subject": "alice", "purposes": ["gift-matching"], "value": "!!"},
            {"subject": "alice", "purposes": ["Bad Purpose"], "value": "eA=="},
            {"subject": "", "purposes": ["gift-matching"], "value": "eA=="},
            {
                "subject": "alice",
                "purposes": ["gift-matching"],
                "value": "eA==",
                "born_on": "yesterday",
            },
            {"subject": "alice"},
            [],
        ):
            status = _status(lambda b=body: tenant.json("POST", "/v1/vault/records", json=b))
            assert status in (400, 422)
        assert (
            _status(lambda: tenant.json("POST", "/v1/vault/erase", json={"subject": "nobody"}))
            == 404
        )
        assert (
            _status(
                lambda: tenant.json(
                    "POST",
                    "/v1/vault/rules",
                    json={"scope": "planet", "target": "x", "rule": "age:13"},
                )
            )
            == 400
        )
        assert (
            _status(lambda: tenant.json("GET", "/v1/vault/subjects", params={"state": "gone"}))
            == 400
        )
        assert _status(lambda: Client(env.url, "ewt_nope").json("GET", "/v1/vault/subjects")) == 401


def test_rules_hold_and_sweep_over_http(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ELSEWHERE_VAULT_GRACE_SECONDS", "0")
    with control_plane(tmp_path) as env:
        tenant = env.tenant()
        operator = Client(env.url, env.token(Kind.OPERATOR, "op"))
        body = {
            "subject": "old-timer",
            "purposes": ["gift-matching"],
            "value": base64.b64encode(b"born long ago").decode(),
            "born_on": "1990-01-01",
        }
        held = tenant.json("POST", "/v1/vault/records", json=body)
        young = tenant.json(
            "POST", "/v1/vault/records", json=body | {"subject": "kid", "born_on": "2020-01-01"}
        )
        rule = tenant.json(
            "POST",
            "/v1/vault/rules",
            json={"scope": "purpose", "target": "gift-matching", "rule": "age:13"},
        )
        assert [r["id"] for r in tenant.json("GET", "/v1/vault/rules")] == [rule["id"]]
        hold = tenant.json(
            "POST",
            "/v1/vault/hold",
            json={"subject": "old-timer", "hold": True, "reason": "tax audit"},
        )
        assert hold["hold"] is True
        assert _status(lambda: tenant.json("POST", "/v1/vault/sweep")) == 403
        assert operator.json("POST", "/v1/vault/sweep")["by_rule"] == {rule["id"]: 0}
        assert (
            _status(lambda: tenant.json("POST", "/v1/vault/erase", json={"subject": "old-timer"}))
            == 409
        )
        tenant.json(
            "POST",
            "/v1/vault/hold",
            json={"subject": "old-timer", "hold": False, "reason": "audit closed"},
        )
        assert operator.json("POST", "/v1/vault/sweep")["by_rule"] == {rule["id"]: 1}
        states = {r["subject"]: r["state"] for r in tenant.json("GET", "/v1/vault/subjects")}
        assert states == {held["subject"]: "erased", young["subject"]: "active"}
        tenant.request("DELETE", f"/v1/vault/rules/{rule['id']}")
        assert tenant.json("GET", "/v1/vault/rules") == []
        assert _status(lambda: tenant.request("DELETE", f"/v1/vault/rules/{rule['id']}")) == 404
