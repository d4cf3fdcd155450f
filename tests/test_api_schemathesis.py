"""Property-based fuzzing of the live API from its own OpenAPI document (schemathesis), on SQLite
and PostgreSQL (#20 item 5): every operation, with the token of its audience, answers generated
and malformed requests with a status below 500 and, for an error, one JSON line. Bounded here
(a few examples an operation); SCHEMATHESIS_EXAMPLES raises it for a long run."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings

from control_helpers import control_plane, database_url
from elsewhere.control.store.transactions import write
from elsewhere.control.tenancy.auth import Kind
from elsewhere.control.tenancy.tenants import create_tenant

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis not installed")
from schemathesis.openapi import from_dict  # noqa: E402

__all__ = ["database_url"]


@schemathesis.serializer("application/wasm")
def _wasm(ctx: Any, value: Any) -> bytes:  # bodies as generated: usually not WebAssembly at all
    return value if isinstance(value, bytes) else str(value).encode()


EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "6"))
AUDIENCE = {"host": Kind.HOST, "tenant": Kind.TENANT, "operator": Kind.OPERATOR}


def _tokens_for(operation: Any, tokens: dict[Kind, str]) -> list[str | None]:
    """The token of the operation's audience (its tag), or, for a route tagged by domain
    (vault, ledger, ...), each kind of token and none."""
    for tag in operation.definition.raw.get("tags", []):
        if tag in AUDIENCE:
            return [tokens[AUDIENCE[tag]]]
    return [*tokens.values(), None]


def test_every_operation_answers_generated_input_without_a_server_error(
    tmp_path: Path, database_url: str | None
) -> None:
    with control_plane(tmp_path, database_url) as env:
        document = httpx.get(f"{env.url}/openapi.json").json()
        schema = from_dict(document)
        with write(env.cp.engine) as conn:
            tenant_token = create_tenant(conn, "fuzzed").token
        tokens = {Kind.TENANT: tenant_token, Kind.HOST: env.token(Kind.HOST)}
        tokens[Kind.OPERATOR] = env.token(Kind.OPERATOR)
        failures: list[str] = []
        statuses: list[int] = []
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 10, "the OpenAPI document lists almost nothing"
        with httpx.Client(timeout=30) as http:
            for operation in operations:
                for token in _tokens_for(operation, tokens):
                    _fuzz(operation, env.url, token, http, failures, statuses)
        assert failures == [], "\n".join(failures[:20])
        # The tokens authenticate: some generated requests got past the auth into the handlers.
        assert len(statuses) >= len(operations) and any(200 <= s < 300 for s in statuses)
        assert any(s in (400, 404, 409, 413, 422) for s in statuses)


def _fuzz(
    operation: Any,
    url: str,
    token: str | None,
    http: httpx.Client,
    failures: list[str],
    statuses: list[int],
) -> None:
    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    def call(case: Any) -> None:
        kwargs = case.as_transport_kwargs(base_url=url)
        headers = {k: v for k, v in kwargs.pop("headers").items() if k.isascii() and v.isascii()}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        kwargs.pop("cookies", None)
        if isinstance(kwargs.get("data"), bytes | str):
            kwargs["content"] = kwargs.pop("data")
        try:
            response = http.request(headers=headers, **kwargs)
        except httpx.InvalidURL:  # a URL no client could send: nothing to test
            return
        problem = _problem(response)
        if problem:
            failures.append(f"{operation.label} {kwargs['url']}: {problem}")
        statuses.append(response.status_code)

    call()


def _problem(response: httpx.Response) -> str | None:
    if response.status_code >= 500 and response.status_code != 503:
        return f"status {response.status_code}: {response.text[:200]}"
    if "Traceback" in response.text:
        return "a traceback in the answer"
    if response.status_code >= 400 and response.headers.get("content-type", "").startswith(
        "application/json"
    ):
        error = response.json().get("error")
        if not isinstance(error, str) or "\n" in error or not error:
            return f"error is not one line: {response.text[:200]}"
    return None
