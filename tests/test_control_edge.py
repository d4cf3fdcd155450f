"""The API edge against hostile hosts and clients (issue #21, defects 4, 5 and 8), over real
HTTP on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID
from sqlalchemy import update

from control_helpers import attest_body, control_plane, database_url, settled
from elsewhere.control.store.tables import results
from elsewhere.control.store.transactions import write
from waits import remaining, wait_for

__all__ = ["database_url"]

DEEP = '{"a":' * 300 + "1" + "}" * 300  # about 600 bytes, 300 levels


def test_a_deep_host_document_is_refused_and_an_old_one_does_not_break_the_view(
    tmp_path: Path, database_url: str | None
) -> None:
    with control_plane(tmp_path, database_url) as env:
        host = env.agent("genoa", start=False)
        tenant, digest = env.setup_tenant()
        placement = tenant.deploy({"workload": digest})
        deployment = placement["id"]
        (assigned,) = wait_for(host.client.assignments)
        refused = host.client.http.request(
            "POST",
            f"/v1/placements/{assigned['placement']}/result",
            content='{"isolation":' + DEEP + "}",
            headers={"content-type": "application/json"},
        )
        assert refused.status_code == 422, refused.text
        error = refused.json()["error"]
        assert error.startswith("isolation:") and "deeper than" in error, error
        for outcome in host.poll_once():
            outcome.result(timeout=remaining())
        wait_for(settled(tenant, deployment))
        # A row stored before the edge bounded it: the view marks it and still answers.
        with write(env.cp.engine) as conn:
            conn.execute(update(results).values(host_isolation=DEEP))
        answer = tenant.http.request("GET", f"/v1/deployments/{deployment}")
        assert answer.status_code == 200, answer.text
        (shown,) = answer.json()["placements"]
        reported = shown["result"]["host_reported_isolation"]
        assert reported["error"].startswith("unreadable host-reported document"), reported


def test_a_lone_surrogate_or_nul_in_a_json_string_is_one_400(
    tmp_path: Path, database_url: str | None
) -> None:
    with control_plane(tmp_path, database_url) as env:
        host = env.agent("genoa", start=False)
        tenant, _ = env.setup_tenant()
        json_body = {"content-type": "application/json"}
        surrogate = tenant.http.request(
            "POST", "/v1/deployments", content=rb'{"workload": "\ud800"}', headers=json_body
        )
        assert surrogate.status_code == 400, surrogate.text
        assert surrogate.json()["error"] == (
            "request body: \\ud800 at byte 14 escapes a lone surrogate"
        )
        nul = host.client.http.request(
            "POST",
            "/v1/hosts/register",
            content=rb'{"name": "g\u0000", "attester": "emulated-snp"}',
            headers=json_body,
        )
        assert nul.status_code == 400, nul.text
        assert "\\u0000 at byte 11 escapes NUL" in nul.json()["error"]
        # A pair is one character, and an escaped backslash is no escape: both accepted.
        fine = tenant.http.request(
            "POST",
            "/v1/deployments",
            content=rb'{"workload": "\ud83d\ude00 \\u0000"}',
            headers=json_body,
        )
        assert "no such workload" in fine.json()["error"], fine.text


def test_a_tdx_pck_name_retagged_as_bit_string_is_a_400_over_http(
    tmp_path: Path, database_url: str | None
) -> None:
    """Fixed in evidence (tests/test_dcap_pck.py); over HTTP it must answer 4xx in one line,
    not 500, with the policy allowing emulated TDX."""
    with control_plane(tmp_path, database_url) as env:
        host = env.agent("spr", kind="emulated-tdx", start=False)
        tenant, digest = env.setup_tenant()
        tenant.deploy({"workload": digest, "secrets": ["greeting-key"]})
        placement = wait_for(host.client.assignments)[0]["placement"]
        platform = host.attester.platform
        der = platform.certs["pck"]
        name = x509.load_der_x509_certificate(der).subject
        value = str(name.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value).encode()
        at = der.find(b"\x0c" + bytes([len(value)]) + value)
        retagged = der[:at] + b"\x03" + der[at + 1 :]
        body = attest_body(host.client, host.attester, placement)
        evidence = base64.b64decode(body["evidence"])
        swapped = evidence.replace(_pem(der), _pem(retagged))
        assert swapped != evidence
        body["evidence"] = base64.b64encode(swapped).decode()
        answer = host.client.http.request("POST", f"/v1/placements/{placement}/attest", json=body)
        assert 400 <= answer.status_code < 500, answer.text
        assert "\n" not in answer.json()["error"], answer.text
        assert answer.status_code == 400 and "malformed certificate" in answer.text, answer.text


def _pem(raw: bytes) -> bytes:
    b64 = base64.b64encode(raw)
    lines = b"".join(b64[i : i + 64] + b"\n" for i in range(0, len(b64), 64))
    return b"-----BEGIN CERTIFICATE-----\n" + lines + b"-----END CERTIFICATE-----\n"


def test_each_host_document_bound_refuses_on_its_own() -> None:
    """Depth, key count and size each refuse a document the other two let through."""
    from elsewhere.control.broker.results import (
        MAX_HOST_BYTES,
        MAX_HOST_DEPTH,
        MAX_HOST_KEYS,
        host_document_problem,
    )

    def nested(levels: int) -> dict[str, object]:
        document: dict[str, object] = {"leaf": 1}
        for _ in range(levels - 1):
            document = {"a": document}
        return document

    assert host_document_problem(nested(MAX_HOST_DEPTH)) is None
    assert "deeper than" in str(host_document_problem(nested(MAX_HOST_DEPTH + 1)))
    assert host_document_problem({f"k{i}": i for i in range(MAX_HOST_KEYS)}) is None
    many = host_document_problem({f"k{i}": i for i in range(MAX_HOST_KEYS + 1)})
    assert "more than" in str(many)
    # Few keys, shallow, but long strings: only the size bound sees it.
    big = {"a": "x" * (MAX_HOST_BYTES // 2), "b": "y" * (MAX_HOST_BYTES // 2)}
    assert "larger than" in str(host_document_problem(big))
    assert host_document_problem({"a": "x" * (MAX_HOST_BYTES - 100)}) is None
