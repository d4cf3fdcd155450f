"""The attest-and-release hot path, through the framework routes (control/http/host_routes.py)
behind the request checks (http/limits.py): statuses and one-line errors, body limits, the
event loop free while a request's database read waits, and SQLite reads without a snapshot
transaction where the statements are independent."""

from __future__ import annotations

import datetime as dt
import socket
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import Connection

from control_helpers import control_plane, postgres_available, wait_for
from elsewhere.attest import make_attester
from elsewhere.claims import platform_document
from elsewhere.control.broker import context as context_module
from elsewhere.control.config import ControlConfig, ControlPlane
from elsewhere.control.http.deadlines import ReadDeadlines
from elsewhere.control.http.limits import MAX_API_BODY, MAX_BODY, RequestLimits
from elsewhere.control.http.requestid import RequestIds
from elsewhere.control.store.tables import placements, tenants
from elsewhere.control.store.transactions import read, write
from elsewhere.control.tenancy.auth import Kind
from elsewhere.control.tenancy.tenants import create_tenant
from elsewhere.db import make_engine
from elsewhere.evidence.api import EvidenceOptions, verify_evidence
from waits import remaining


def test_hot_calls_answer_in_one_line(tmp_path: Path) -> None:
    with control_plane(tmp_path, heartbeat_timeout=dt.timedelta(minutes=10)) as env:
        app = env.server.server.config.app
        assert isinstance(app, RequestIds) and isinstance(app.app, ReadDeadlines)
        assert isinstance(app.app.app, RequestLimits)
        agent, placement = env.waiting_placement()
        http = agent.client.http
        for path in (f"/v1/placements/{placement}/nonce", f"/v1/placements/{placement}/attest"):
            bare = httpx.post(f"{env.url}{path}")
            assert bare.status_code == 401
            assert bare.json() == {"error": "missing bearer token (Authorization: Bearer <token>)"}
            wrong = httpx.post(
                f"{env.url}{path}", headers={"Authorization": f"Bearer {env.token(Kind.TENANT)}"}
            )
            assert wrong.status_code == 403
            assert wrong.json() == {"error": "this endpoint needs a host token"}
        missing = http.post("/v1/placements/pl_nope/nonce")
        assert missing.status_code == 404 and missing.json() == {"error": "placement not found"}
        issued = http.post(f"/v1/placements/{placement}/nonce").json()
        assert set(issued) == {"nonce", "expires_at", "workload_digest", "policy_digest"}
        attest = f"/v1/placements/{placement}/attest"
        not_json = http.post(attest, content=b"{", headers={"Content-Type": "application/json"})
        assert not_json.status_code == 422 and "\n" not in not_json.json()["error"]
        no_nonce = http.post(attest, json={"keep_public_key": "", "evidence": ""})
        assert no_nonce.status_code == 422 and no_nonce.json()["error"].startswith("nonce:")
        stale = {"nonce": "00" * 48, "keep_public_key": "", "evidence": ""}
        refused = http.post(attest, json=stale)
        assert refused.status_code in (400, 409) and "\n" not in refused.json()["error"]
        # Nothing was released or spent: the placement still waits for good evidence.
        assert agent.client.assignments()[0]["placement"] == placement


def test_sqlite_reads_keep_one_snapshot_unless_asked_not_to(tmp_path: Path) -> None:
    cp = ControlPlane.open(ControlConfig.for_dir(tmp_path))
    count = select(func.count()).select_from(tenants)
    try:
        for snapshot, expected in ((True, 0), (False, 1)):
            with read(cp.engine, snapshot=snapshot) as conn:
                before = conn.execute(count).scalar_one()
                with write(cp.engine) as other:
                    create_tenant(other, f"t-{snapshot}")
                after = conn.execute(count).scalar_one()
            assert after - before == expected
    finally:
        cp.close()


def test_attest_reads_join_secrets_only_when_the_learned_names_still_hold(tmp_path: Path) -> None:
    """The nonce request remembers the placement's secret names; the attest request then reads
    context and secrets in one statement, and uses the joined rows only if the names it reads
    again are the same (a stale or wrong hint falls back to reading the secrets by name)."""
    with control_plane(tmp_path, heartbeat_timeout=dt.timedelta(minutes=10)) as env:
        agent, placement = env.waiting_placement()
        agent.client.http.post(f"/v1/placements/{placement}/nonce").raise_for_status()
        assert context_module._secret_names[placement] == ("greeting-key",)
        with read(env.cp.engine) as conn:
            host_id = conn.execute(
                select(placements.c.host_id).where(placements.c.id == placement)
            ).scalar_one()
        expected = None
        for hint in (("greeting-key",), ("other",), ()):
            if hint:
                context_module._secret_names[placement] = hint
            context, _, sealed = context_module.attest_reads(env.cp, placement, host_id)
            assert placement not in context_module._secret_names  # a hint is used once
            assert context.secret_names == ("greeting-key",)
            found = [(row.name, row.kek_id, row.wrapped_key, row.ciphertext) for row in sealed]
            assert len(found) == 1 and found[0][0] == "greeting-key"
            expected = expected or found
            assert found == expected


def test_hot_routes_refuse_oversized_and_malformed_bodies_in_one_line(tmp_path: Path) -> None:
    """A hot route reads at most MAX_BODY bytes (Content-Length checked before reading); the
    API documents the hot routes, and an unknown path below them is a one-line 404."""
    with control_plane(tmp_path, heartbeat_timeout=dt.timedelta(minutes=10)) as env:
        agent, placement = env.waiting_placement()
        http = agent.client.http
        attest = f"/v1/placements/{placement}/attest"
        huge = http.post(attest, content=b"x" * (MAX_BODY + 1))
        assert huge.status_code == 413
        assert huge.json() == {"error": f"request body larger than {MAX_BODY} bytes"}

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted while reading
            for _ in range(MAX_BODY // 65536 + 2):
                yield b"y" * 65536

        streamed = http.post(attest, content=chunks())
        assert streamed.status_code == 413
        with socket.create_connection(("127.0.0.1", env.server.port)) as raw:
            raw.sendall(f"POST {attest} HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n".encode())
            answer = raw.recv(4096)
        assert answer.startswith(b"HTTP/1.1 4")  # refused by uvicorn or the checks, never 2xx/5xx
        not_utf8 = http.post(attest, content=b"\xff\xfe{")
        assert not_utf8.status_code == 422 and "\n" not in not_utf8.json()["error"]
        health = httpx.get(f"{env.url}/healthz")
        assert health.status_code == 200 and health.json()["ok"] is True
        assert httpx.get(f"{env.url}/openapi.json").json()["paths"][
            "/v1/placements/{placement_id}/attest"
        ]
        other = http.post(f"/v1/placements/{placement}/nonce/extra")
        assert other.status_code == 404 and "\n" not in other.json()["error"]
        assert agent.client.assignments()[0]["placement"] == placement


def test_api_refuses_a_body_larger_than_any_workload(tmp_path: Path) -> None:
    """Declared too long: refused before reading; chunked: refused once too much has come."""
    with control_plane(tmp_path) as env:
        headers = {"Authorization": f"Bearer {env.token(Kind.TENANT)}"}
        headers |= {"Content-Type": "application/wasm"}
        url = f"{env.url}/v1/workloads"
        huge = httpx.post(url, content=b"\0" * (MAX_API_BODY + 1), headers=headers)
        assert huge.status_code == 413
        assert huge.json() == {"error": f"request body larger than {MAX_API_BODY} bytes"}

        def chunks() -> Iterator[bytes]:
            for _ in range(MAX_API_BODY // (1 << 20) + 2):
                yield b"\0" * (1 << 20)

        streamed = httpx.post(url, content=chunks(), headers=headers)
        assert streamed.status_code == 413 and "\n" not in streamed.json()["error"]
        assert httpx.get(f"{env.url}/v1/workloads", headers=headers).json() == []


def test_platform_claims_are_the_same_for_every_keep_of_a_platform(tmp_path: Path) -> None:
    """hosts.last_claims drops what names one keep (report_data, SEV-SNP report ids): two
    keeps of one platform give the same row, so the host's row is not rewritten per release."""
    attester = make_attester("emulated-snp", tmp_path, generation="Genoa")
    options = EvidenceOptions(trusted_emulated_roots=(attester.trust_anchor,))
    platforms = []
    for fill in (1, 2):
        evidence = attester.attest(bytes([fill]) * 64)
        result = verify_evidence(evidence.evidence, replace(options, cert_table=evidence.aux))
        assert result.verified and result.claims.identity["report_id"]
        platforms.append(platform_document(result.claims.to_json()))
    assert platforms[0] == platforms[1]
    assert "report_data" not in platforms[0] and "report_id" not in platforms[0]["identity"]
    assert platforms[0]["chip_id"] and platforms[0]["tcb"]


def test_a_stuck_read_frees_the_event_loop_and_times_out_in_one_line(tmp_path: Path) -> None:
    """A nonce request whose read waits on a lock runs on a worker thread: /healthz answers
    meanwhile, and the statement timeout ends the wait with a one-line 503."""
    pg = postgres_available()
    if pg is None:
        pytest.skip("PostgreSQL not reachable at 127.0.0.1:5432")
    with (
        pg as url,
        control_plane(
            tmp_path,
            url,
            heartbeat_timeout=dt.timedelta(minutes=10),
            # Long enough that /healthz, answered on a blocked event loop only after the
            # statement ended, would find the read no longer waiting.
            statement_timeout=dt.timedelta(seconds=20),
        ) as env,
    ):
        agent, placement = env.waiting_placement()
        answers: list[httpx.Response] = []
        # The lock's holder is another client of the database (an operator's session, a
        # migration), not a replica: the replicas' own sessions are ended by the server after
        # 4 s idle in a transaction (store/transactions.py), this one is not.
        other = make_engine(url)
        with other.connect() as locker:
            locker.execute(text("LOCK TABLE cp_placements IN ACCESS EXCLUSIVE MODE"))
            asking = threading.Thread(
                target=lambda: answers.append(
                    agent.client.http.post(f"/v1/placements/{placement}/nonce", timeout=remaining())
                )
            )
            asking.start()
            wait_for(lambda: _waiting_on_a_lock(locker) > 0)
            health = httpx.get(f"{env.url}/healthz", timeout=remaining())
            still_waiting = _waiting_on_a_lock(locker) > 0 and asking.is_alive()
            asking.join(timeout=remaining())
            locker.rollback()
        other.dispose()
        assert health.status_code == 200 and still_waiting
        assert answers and answers[0].status_code == 503
        assert "statement timed out" in answers[0].json()["error"]
        issued = agent.client.http.post(f"/v1/placements/{placement}/nonce")
        assert issued.status_code == 200  # the lock gone, the same request is answered


def _waiting_on_a_lock(conn: Connection) -> int:
    query = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
    return int(conn.execute(text(query)).scalar_one())
