"""Nonce and attest, over real HTTP: each defined once, as a FastAPI route (documented in
OpenAPI), with the authentication, request checks and one-line errors of every route, a
replayed nonce refused 409, and the database gone answered 503 in one line."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import httpx
import psycopg
import pytest
from fastapi import FastAPI

from control_helpers import PG_ADMIN, attest_body, control_plane, postgres_database
from elsewhere.control.http.limits import MAX_BODY
from elsewhere.control.tenancy.auth import Kind

QUIET = {"heartbeat_timeout": dt.timedelta(minutes=10)}
HOT = ("/v1/placements/{placement_id}/nonce", "/v1/placements/{placement_id}/attest")


def _one_line(answer: httpx.Response, status: int) -> str:
    assert answer.status_code == status, (answer.status_code, answer.text)
    message = answer.json()["error"]
    assert isinstance(message, str) and message and "\n" not in message
    return message


def test_each_hot_call_is_one_documented_route(tmp_path: Path) -> None:
    with control_plane(tmp_path, **QUIET) as env:
        # The server runs the app behind the request ids, read deadlines and request checks
        # only: no second path in front.
        outer = env.server.server.config.app
        assert isinstance(outer.app.app.app, FastAPI)
        schema = httpx.get(f"{env.url}/openapi.json").json()
        for path in HOT:
            assert schema["paths"][path]["post"]["tags"] == ["host"]
        attest = schema["paths"][HOT[1]]["post"]["requestBody"]["content"]["application/json"]
        assert attest["schema"] == {"$ref": "#/components/schemas/AttestRequest"}
        assert "nonce" in schema["components"]["schemas"]["AttestRequest"]["required"]
        agent, placement = env.waiting_placement()
        _one_line(agent.client.http.get(f"/v1/placements/{placement}/nonce"), 405)
        _one_line(agent.client.http.post("/v1/placements//nonce"), 404)


def test_tokens_bodies_and_replays_are_refused_in_one_line(tmp_path: Path) -> None:
    with control_plane(tmp_path, **QUIET) as env:
        agent, placement = env.waiting_placement()
        http = agent.client.http
        nonce, attest = (f"/v1/placements/{placement}/{call}" for call in ("nonce", "attest"))
        for path in (nonce, attest):
            forged = {"Authorization": "Bearer ewh_not-a-token"}
            assert _one_line(httpx.post(env.url + path, headers=forged), 401) == (
                "invalid or revoked token"
            )
            operator = {"Authorization": f"Bearer {env.token(Kind.OPERATOR)}"}
            assert _one_line(httpx.post(env.url + path, headers=operator), 403) == (
                "this endpoint needs a host token"
            )
            _one_line(http.post(path, content=b"z" * (MAX_BODY + 1)), 413)
            escaped = http.post(path, content=b'{"nonce": "\\u0000"}')
            assert "NUL" in _one_line(escaped, 400)  # the request checks run first
        wrong_type = http.post(attest, json={"nonce": 7, "keep_public_key": "", "evidence": ""})
        assert _one_line(wrong_type, 422).startswith("nonce:")
        _one_line(http.post(attest, content=b"[]"), 422)
        assert _one_line(http.post(f"/v1/placements/{placement}x/nonce"), 404) == (
            "placement not found"
        )

        body = attest_body(agent.client, agent.attester, placement)
        first = http.post(attest, json=body)
        assert first.status_code == 200 and first.json()["verdict"] == "affirming"
        assert isinstance(first.json()["ledger_index"], int)
        replayed = _one_line(http.post(attest, json=body), 409)
        assert "nonce" in replayed


@pytest.mark.postgres
def test_the_database_gone_is_a_one_line_503_and_then_recovers(tmp_path: Path) -> None:
    """The store refuses connections (its backends ended, new ones not allowed): nonce and
    attest answer 503 in one line, /healthz still answers; once it is back, they work again."""
    with postgres_database() as url, control_plane(tmp_path, url, **QUIET) as env:
        agent, placement = env.waiting_placement()
        http = agent.client.http
        body = attest_body(agent.client, agent.attester, placement)
        name = url.rsplit("/", 1)[1]
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )
            try:
                for path, payload in (("nonce", None), ("attest", body)):
                    down = http.post(f"/v1/placements/{placement}/{path}", json=payload)
                    assert "database unavailable" in _one_line(down, 503)
                assert httpx.get(f"{env.url}/healthz").status_code == 200
            finally:
                admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
        again = http.post(
            f"/v1/placements/{placement}/attest",
            json=attest_body(agent.client, agent.attester, placement),
        )
        assert again.status_code == 200 and again.json()["verdict"] == "affirming"
