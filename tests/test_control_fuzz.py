"""Hostile input to the key broker: whatever a host sends, the answer is a 4xx with a one-line
JSON reason — never a 500, never a release."""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from control_helpers import control_plane, database_url, greeter_wasm
from elsewhere.crypto.hpke import KeepKey

KEY = base64.b64encode(KeepKey.generate().public_bytes()).decode()
b64_bytes = st.binary(max_size=2048).map(lambda b: base64.b64encode(b).decode())
text = st.text(max_size=80)

__all__ = ["database_url"]


def test_attest_answers_hostile_bodies_with_one_line_errors(
    tmp_path: Path, database_url: str | None
) -> None:
    # The agent is not started, so it sends no heartbeats: a long timeout keeps its placement
    # from being rescheduled while hypothesis runs (slow on a loaded CI machine).
    with control_plane(tmp_path, database_url, heartbeat_timeout=dt.timedelta(minutes=10)) as env:
        agent, placement = env.waiting_placement()
        nonce = agent.client.nonce(placement)["nonce"]
        http = agent.client.http

        @settings(
            max_examples=60,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture],
        )
        @given(
            nonce_value=st.one_of(st.just(nonce), text, st.binary(max_size=64).map(bytes.hex)),
            key=st.one_of(st.just(KEY), b64_bytes, text),
            evidence=st.one_of(b64_bytes, text),
            certificates=st.one_of(st.none(), b64_bytes, text),
            fmt=st.one_of(st.none(), text.filter(lambda f: f != "none")),
        )
        def probe(
            nonce_value: str, key: str, evidence: str, certificates: str | None, fmt: str | None
        ) -> None:
            body = {
                "nonce": nonce_value,
                "keep_public_key": key,
                "evidence": evidence,
                "certificates": certificates,
                "format": fmt,
            }
            response = http.post(f"/v1/placements/{placement}/attest", json=body)
            assert 400 <= response.status_code < 500, response.text
            error = response.json()["error"]
            assert error and "\n" not in error

        probe()
        # Nothing was released or spent: the placement still waits for good evidence.
        assert agent.client.assignments()[0]["placement"] == placement


def test_tenant_endpoints_answer_hostile_input_with_one_line_errors(
    tmp_path: Path, database_url: str | None
) -> None:
    with control_plane(tmp_path, database_url) as env:
        tenant = env.tenant()
        http = tenant.http

        @settings(
            max_examples=60,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture],
        )
        @given(
            wasm=st.one_of(st.binary(max_size=512), st.binary(max_size=64).map(b"\x00asm".__add__)),
            name=st.text(alphabet=st.characters(codec="ascii"), min_size=1, max_size=40),
            deploy=st.dictionaries(
                st.sampled_from(["workload", "replicas", "args", "env", "stdin", "limits"]),
                st.one_of(st.integers(), text, st.lists(text, max_size=3)),
            ),
        )
        def probe(wasm: bytes, name: str, deploy: dict[str, object]) -> None:
            upload = http.post(
                "/v1/workloads", content=wasm, headers={"Content-Type": "application/wasm"}
            )
            secret = http.put(
                f"/v1/secrets/{quote(name, safe='')}",
                content=b"v",
                headers={"Content-Type": "application/octet-stream"},
            )
            deployed = http.post("/v1/deployments", json=deploy)
            for response in (upload, secret, deployed):
                if response.status_code < 300:
                    continue  # a valid name, or (rarely) a valid module
                assert 400 <= response.status_code < 500, response.text
                assert "\n" not in response.json()["error"]

        probe()


def test_secret_name_that_is_a_slash_is_a_4xx_not_a_redirect(
    tmp_path: Path, database_url: str | None
) -> None:
    with control_plane(tmp_path, database_url) as env:
        tenant = env.tenant()
        for name in ("/", "a/", "a/b"):
            response = tenant.http.put(
                f"/v1/secrets/{quote(name, safe='')}",
                content=b"v",
                headers={"Content-Type": "application/octet-stream"},
            )
            assert 400 <= response.status_code < 500, (name, response.status_code)
            assert "\n" not in response.json()["error"]


def test_the_hot_path_front_answers_raw_hostile_requests_in_one_line(
    tmp_path: Path, database_url: str | None
) -> None:
    """The hot routes (control/http/host_routes.py, behind http/limits.py): any bytes as a
    body, any placement segment, any Authorization value — a 4xx with one JSON line."""
    with control_plane(tmp_path, database_url, heartbeat_timeout=dt.timedelta(minutes=10)) as env:
        agent, placement = env.waiting_placement()
        http = agent.client.http
        stranger = httpx.Client(base_url=env.url)

        @settings(
            max_examples=80,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture],
        )
        @given(
            segment=st.one_of(st.just(placement), st.text(min_size=1, max_size=40)),
            call=st.sampled_from(["nonce", "attest"]),
            body=st.binary(max_size=4096),
            # Any value HTTP allows in a header (control characters are refused by uvicorn's
            # parser before the app, with its own one-line 400); None: the host's own token.
            authorization=st.one_of(
                st.none(),
                st.text(
                    alphabet=st.characters(codec="latin-1", min_codepoint=0x20).filter(
                        lambda c: c != "\x7f"
                    ),
                    max_size=60,
                ),
                st.just("Bearer "),
            ),
        )
        def probe(segment: str, call: str, body: bytes, authorization: str | None) -> None:
            headers = {b"Content-Type": b"application/json"}
            if authorization is not None:
                headers[b"Authorization"] = authorization.strip().encode("latin-1")
            client = http if authorization is None else stranger
            path = f"/v1/placements/{quote(segment, safe='')}/{call}"
            response = client.post(path, content=body, headers=headers)
            if authorization is None and segment == placement and call == "nonce":
                assert response.status_code == 200  # a nonce request has no body to refuse
                return
            assert 400 <= response.status_code < 500, (response.status_code, response.text)
            error = response.json()["error"]
            assert error and "\n" not in error

        probe()
        assert agent.client.assignments()[0]["placement"] == placement


def test_nul_and_control_characters_are_4xx_on_every_database(
    tmp_path: Path, database_url: str | None
) -> None:
    """PostgreSQL cannot even compare text holding a NUL: each of these was a 500 there. Now a
    control character in a path or query is refused at the edge, and deploy refuses what the
    keep would (a secret name that is not a file name) before any lookup; a NUL in any JSON
    string is refused at the edge, once for every route (#21, 5)."""
    with control_plane(tmp_path, database_url) as env:
        tenant, digest = env.setup_tenant()
        wasm = {"content": greeter_wasm(), "headers": {"Content-Type": "application/wasm"}}
        probes: list[tuple[str, str, dict[str, Any], str]] = [
            ("GET", "/v1/deployments/dep%00x", {}, "request path: control character"),
            ("DELETE", "/v1/deployments/dep%01x", {}, "request path: control character"),
            ("GET", "/v1/workloads/ab%00", {}, "request path: control character"),
            ("DELETE", "/v1/secrets/a%00b", {}, "request path: control character"),
            ("GET", "/v1/deployments/dep%7f/risk", {}, "request path: control character"),
            ("POST", "/v1/placements/pl%00/nonce", {}, "request path: control character"),
            ("POST", "/v1/workloads?name=g%00.wasm", wasm, "query string: control character"),
            ("POST", "/v1/workloads?name=g%0a.wasm", wasm, "query string: control character"),
        ]
        for body, why in (
            ({"workload": digest, "secrets": ["x\x00"]}, "escapes NUL"),
            ({"workload": digest, "secrets": ["a/b"]}, "secret name"),
            ({"workload": digest, "secrets": ["greeting-key", "greeting-key"]}, "duplicate"),
            ({"workload": digest, "args": ["a\x00"]}, "escapes NUL"),
            ({"workload": digest, "env": {"A\x00": "b"}}, "escapes NUL"),
            ({"workload": digest, "env": {"A": "b\x00"}}, "escapes NUL"),
            ({"workload": "ab\x00"}, "escapes NUL"),
            ({"workload": digest, "limits": {"fuel": 10**30}}, "fuel: 10"),
            ({"workload": digest, "limits": {"memory_bytes": 1 << 40}}, "exceeds the most"),
        ):
            probes.append(("POST", "/v1/deployments", {"json": body}, why))
        for method, path, kwargs, why in probes:
            answer = tenant.http.request(method, path, **kwargs)
            assert answer.status_code == 400, (path, kwargs, answer.text)
            error = answer.json()["error"]
            assert why in error and "\n" not in error, (path, error)
        assert tenant.json("GET", "/v1/deployments") == []  # nothing was stored
