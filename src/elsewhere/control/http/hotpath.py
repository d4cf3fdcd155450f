"""The two calls of every attest-and-release, as one hand-written ASGI path in front of the
FastAPI app — their ONLY definition (there is no FastAPI route for them):

    POST /v1/placements/{placement_id}/nonce   → broker.attest.issue_nonce
    POST /v1/placements/{placement_id}/attest  → broker.attest.decide, then the group commit

Why by hand: FastAPI's middleware stack, routing and dependency solving, and a worker-thread
hop per dependency that needs one, cost more than the rest of these requests' Python work
(docs/control-plane.md, "Performance": the same-run A/B against the framework routes that
keeps this path). Nothing else is done by hand. What every request gets is the same code as
for the framework routes: the request checks in front (http/limits.py: control characters,
the body limit, escapes; this path sits behind them), bearer authentication and the token's
kind (http/deps.py), the one error mapping (http/errors.py, answered through limits.py), and
every blocking step — the credential and host reads, parsing, the database reads (under the
store's statement timeout) and verification — in ONE call on the app's bounded request threads,
so the event loop never waits on the database. The only wait, the group commit's fsync, is
awaited on its future. `document` adds both operations to the app's OpenAPI schema.
"""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import Executor
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from elsewhere.control.broker import attest as broker
from elsewhere.control.config import ControlPlane
from elsewhere.control.http.deps import bearer, cached_credential, look_up, of_kind, run_blocking
from elsewhere.control.http.host_routes import host_of
from elsewhere.control.http.limits import ASGIApp, Receive, Scope, Send, send_error, send_json
from elsewhere.control.tenancy.auth import Credential, Kind

PREFIX = "/v1/placements/"
CALLS = ("nonce", "attest")


class HotPath:
    """`HotPath(app, cp, threads)`: nonce and attest here, every other request to `app`;
    `threads` is the app's request pool (http/deps.py)."""

    def __init__(self, app: ASGIApp, cp: ControlPlane, threads: Executor) -> None:
        self.app, self.cp, self.threads = app, cp, threads

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            path: str = scope["path"]
            if path.startswith(PREFIX):
                placement_id, _, call = path[len(PREFIX) :].partition("/")
                if placement_id and call in CALLS:
                    await self._answer(scope, receive, send, placement_id, call)
                    return
        await self.app(scope, receive, send)

    async def _answer(
        self, scope: Scope, receive: Receive, send: Send, placement_id: str, call: str
    ) -> None:
        try:
            token = bearer(_authorization(scope))
            known = cached_credential(self.cp, token)
            if call == "nonce":
                content = await run_blocking(
                    self.threads, _nonce, self.cp, token, known, placement_id
                )
            else:
                body = await _body(receive)
                release = await run_blocking(
                    self.threads, _decide, self.cp, token, known, placement_id, body
                )
                future = self.cp.committer.submit(release.job, release.claims)
                content = _encode(release.response(await asyncio.wrap_future(future)))
        except Exception as error:
            await send_error(send, error)
            return
        await send_json(send, 200, content)


def _authorization(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            return bytes(value).decode("latin-1")
    return None


async def _body(receive: Receive) -> bytes:
    """The request body; its length is bounded by the request checks in front (limits.py)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break  # the client went away: what came is parsed, and refused if incomplete
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _host(cp: ControlPlane, token: str, known: Credential | None) -> str:
    """The host of a host token (on a worker thread: it may read the store)."""
    return host_of(cp, of_kind(known if known is not None else look_up(cp, token), Kind.HOST))


def _encode(answer: dict[str, Any]) -> bytes:
    return json.dumps(answer, separators=(",", ":")).encode()


def _nonce(cp: ControlPlane, token: str, known: Credential | None, placement_id: str) -> bytes:
    return _encode(broker.issue_nonce(cp, placement_id, _host(cp, token, known)))


def _decide(
    cp: ControlPlane, token: str, known: Credential | None, placement_id: str, body: bytes
) -> broker.Release:
    host_id = _host(cp, token, known)  # first: a wrong token is 401/403 whatever the body
    try:
        request = broker.AttestRequest.model_validate_json(body)
    except ValidationError as error:  # 422 in one line, as for every framework route's body
        raise RequestValidationError(error.errors()) from None
    return broker.decide(cp, placement_id, host_id, request)


_ERROR = {
    "description": "one line: what, where, why",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {"error": {"type": "string"}},
                "required": ["error"],
            }
        }
    },
}
_ERRORS = {
    str(status): {**_ERROR, "description": why}
    for status, why in (
        (400, "unusable input (evidence, key, nonce encoding)"),
        (401, "no valid token"),
        (403, "not a host token"),
        (404, "no such placement of this host"),
        (409, "nonce used, expired or unknown; placement no longer assigned"),
        (413, "body over 1 MiB"),
        (422, "malformed body"),
        (503, "database unavailable or statement timed out"),
    )
}
_PARAMETERS = [
    {"name": "placement_id", "in": "path", "required": True, "schema": {"type": "string"}}
]
_ANSWER = {"application/json": {"schema": {"type": "object"}}}


def _operations() -> dict[str, Any]:
    return {
        PREFIX + "{placement_id}/nonce": {
            "post": {
                "tags": ["host"],
                "summary": "Nonce",
                "operationId": "nonce",
                "description": (
                    "A single-use nonce (short expiry) for this placement's evidence, and the "
                    "workload and policy digests the keep must bind with it. Host token."
                ),
                "parameters": _PARAMETERS,
                "responses": {"200": {"description": "the nonce", "content": _ANSWER}} | _ERRORS,
            }
        },
        PREFIX + "{placement_id}/attest": {
            "post": {
                "tags": ["host"],
                "summary": "Attest",
                "operationId": "attest",
                "description": (
                    "Verify evidence, check the binding and the nonce, apply the tenant's "
                    'policy, log the decision; on "affirming" return the secrets wrapped to '
                    "the keep key. Host token."
                ),
                "parameters": _PARAMETERS,
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/AttestRequest"}
                        }
                    },
                },
                "responses": {
                    "200": {"description": "verdict, reasons, token, secrets", "content": _ANSWER}
                }
                | _ERRORS,
            }
        },
    }


def document(app: FastAPI) -> None:
    """The hook that puts the hot path's two operations into `app`'s OpenAPI schema
    (/openapi.json, /docs): they are served here, not by a FastAPI route."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()  # FastAPI builds it once and keeps it
        paths = schema.setdefault("paths", {})
        if PREFIX + "{placement_id}/attest" not in paths:
            paths.update(_operations())
            schemas = schema.setdefault("components", {}).setdefault("schemas", {})
            schemas["AttestRequest"] = broker.AttestRequest.model_json_schema(
                ref_template="#/components/schemas/{model}"
            )
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
