"""A small httpx client for the control-plane API (host agent and tenant CLI).

Errors come back as ApiFailure carrying the HTTP status and the server's one-line reason, and
a server that cannot be reached (or not trusted: `verify` is the CA to check its certificate
against, cli/connect.py builds it) as Unreachable, the reason in words.
"""

from __future__ import annotations

import base64
import socket
import ssl
from collections.abc import Iterator
from typing import Any

import httpx

from elsewhere.errors import ElsewhereError, InputError, Unreachable


class ApiFailure(ElsewhereError):
    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(f"control plane answered {status}: {message}")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _causes(error: BaseException) -> Iterator[BaseException]:
    seen: BaseException | None = error
    while seen is not None:
        yield seen
        seen = seen.__cause__ or seen.__context__


# OpenSSL's verify codes (X509_V_ERR_*) that a user can act on, in words.
_UNTRUSTED = "TLS certificate not trusted — give --ca"
_VERIFY_REASONS = {10: "TLS certificate expired", 62: "TLS certificate does not name this host"}


def network_reason(error: httpx.HTTPError) -> str:
    """Why a request did not get an answer, in words a user can act on (never a class name)."""
    if isinstance(error, httpx.TimeoutException):
        return "timed out"
    for cause in _causes(error):
        if isinstance(cause, ssl.SSLCertVerificationError):
            return _VERIFY_REASONS.get(cause.verify_code, _UNTRUSTED)
        if isinstance(cause, ssl.SSLError):
            if "WRONG_VERSION_NUMBER" in str(cause) or "record layer" in str(cause):
                return "TLS handshake failed: the server does not speak TLS (http://?)"
            return f"TLS handshake failed ({cause.reason or 'refused'})".lower()
        if isinstance(cause, socket.gaierror):
            return "name not resolved"
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, ConnectionResetError):
            return "connection reset by the server"
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror.lower()
    if isinstance(error, httpx.RemoteProtocolError):
        return "the server closed the connection without an answer (does it serve https://?)"
    if isinstance(error, httpx.ConnectError) and "Name or service" in str(error):
        return "name not resolved"
    return "no answer (network error)"


class Client:
    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout: float = 30.0,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self.http = httpx.Client(
            base_url=url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
            verify=verify,
        )

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            url = str(self.http.base_url).rstrip("/")
            raise Unreachable(f"control plane at {url}", network_reason(error)) from None
        if response.status_code >= 400:
            try:
                message = str(response.json().get("error", response.text))
            except ValueError:
                message = response.text[:200]
            raise ApiFailure(response.status_code, message)
        return response

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        try:
            return response.json() if response.content else None
        except ValueError:  # JSONDecodeError, UnicodeDecodeError
            raise InputError(f"answer to {method} {path}", "body", "not JSON") from None

    # -- host agent -----------------------------------------------------------------------

    def register(self, name: str, attester: str, capacity: int) -> dict[str, Any]:
        body = {"name": name, "attester": attester, "capacity": capacity}
        result: dict[str, Any] = self.json("POST", "/v1/hosts/register", json=body)
        return result

    def assignments(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.poll()["assignments"]
        return result

    def poll(self) -> dict[str, Any]:
        """Heartbeat: {"assignments": [...], "running": [placement ids it may keep running],
        "reattest": [those of them that must re-attest now]} (the last two absent from a
        control plane that predates them). A malformed answer is an
        InputError, which the agent's loop logs and retries."""
        answer = self.json("GET", "/v1/hosts/me/assignments")
        if not isinstance(answer, dict):
            raise InputError("heartbeat answer", "body", "expected a JSON object")
        work = answer.get("assignments")
        if not isinstance(work, list) or not all(
            isinstance(a, dict) and isinstance(a.get("placement"), str) for a in work
        ):
            raise InputError("heartbeat answer", "assignments", "expected a list of placements")
        for key in ("running", "reattest"):
            listed = answer.get(key, [])
            if not isinstance(listed, list) or not all(isinstance(p, str) for p in listed):
                raise InputError("heartbeat answer", key, "expected a list of placement ids")
        return answer

    def workload(self, placement: str) -> bytes:
        return self.request("GET", f"/v1/placements/{placement}/workload").content

    def nonce(self, placement: str) -> dict[str, Any]:
        result: dict[str, Any] = self.json("POST", f"/v1/placements/{placement}/nonce")
        return result

    def attest(self, placement: str, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self.json("POST", f"/v1/placements/{placement}/attest", json=body)
        return result

    def refuse(self, placement: str, reason: str) -> dict[str, Any]:
        """Tell the control plane this host cannot attest for `placement` (re-placed)."""
        path = f"/v1/placements/{placement}/refusal"
        result: dict[str, Any] = self.json("POST", path, json={"reason": reason[:400]})
        return result

    def reattest(self, placement: str, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self.json(
            "POST", f"/v1/placements/{placement}/reattest", json=body
        )
        return result

    def result(self, placement: str, body: dict[str, Any]) -> None:
        self.request("POST", f"/v1/placements/{placement}/result", json=body)

    # -- tenant ---------------------------------------------------------------------------

    def upload_workload(self, wasm: bytes, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self.json(
            "POST",
            "/v1/workloads",
            params={"name": name},
            content=wasm,
            headers={"Content-Type": "application/wasm"},
        )
        return result

    def put_secret(self, name: str, value: bytes) -> dict[str, Any]:
        result: dict[str, Any] = self.json(
            "PUT",
            f"/v1/secrets/{name}",
            content=value,
            headers={"Content-Type": "application/octet-stream"},
        )
        return result

    def set_policy(self, document: str) -> dict[str, Any]:
        result: dict[str, Any] = self.json(
            "PUT",
            "/v1/policy",
            content=document.encode(),
            headers={"Content-Type": "text/plain"},
        )
        return result

    def deploy(self, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self.json("POST", "/v1/deployments", json=body)
        return result

    def deployment(self, deployment: str) -> dict[str, Any]:
        result: dict[str, Any] = self.json("GET", f"/v1/deployments/{deployment}")
        return result

    def import_advisories(self, feed: bytes, source: str) -> dict[str, Any]:
        result: dict[str, Any] = self.json(
            "POST",
            "/v1/advisories",
            params={"source": source},
            content=feed,
            headers={"Content-Type": "application/json"},
        )
        return result

    def vault_release(
        self, placement: str, subject: str, purpose: str, keep_public_key: bytes
    ) -> dict[str, Any]:
        """A subject's data key (HPKE-wrapped to the keep's attested key) and its records."""
        body = {
            "placement": placement,
            "subject": subject,
            "purpose": purpose,
            "keep_public_key": b64(keep_public_key),
        }
        result: dict[str, Any] = self.json("POST", "/v1/vault/release", json=body)
        return result

    def ledger_bundle(self, index: int) -> bytes:
        return self.request("GET", f"/v1/ledger/entries/{index}/bundle").content

    def ledger_key(self) -> str:
        result: str = self.json("GET", "/v1/ledger/key")["vkey"]
        return result
