"""A client of one custodian over HTTPS (httpx), verifying its certificate against a CA file.
Errors come back as domain errors with the custodian's one-line reason."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import httpx

from elsewhere.errors import (
    Conflict,
    ElsewhereError,
    InputError,
    NotFound,
    Refused,
    TooLarge,
    Unauthenticated,
)

TIMEOUT_S = 30.0


class CustodianDown(ElsewhereError):
    """A custodian (or the registry) did not answer (connection refused, TLS, timeout)."""


_BY_STATUS: dict[int, type[ElsewhereError]] = {
    401: Unauthenticated,
    403: Refused,
    404: NotFound,
    409: Conflict,
    413: TooLarge,
}


class CustodianClient:
    def __init__(
        self, name: str, url: str, ca_file: Path | None, *, keep_alive: bool = True
    ) -> None:
        """`keep_alive=False` for a custodian's own calls to its peers: an idle pooled TLS
        connection would hold up the peer's graceful shutdown (it waits for a close_notify
        the idle client never reads)."""
        self.name = name
        context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
        limits = httpx.Limits() if keep_alive else httpx.Limits(max_keepalive_connections=0)
        self._http = httpx.Client(base_url=url, verify=context, timeout=TIMEOUT_S, limits=limits)

    def close(self) -> None:
        self._http.close()

    def get(self, path: str, **params: Any) -> Any:
        return self._call("GET", path, params=params or None)

    def post(self, path: str, doc: Any = None, *, timeout: float | None = None) -> Any:
        extra = {} if timeout is None else {"timeout": timeout}
        return self._call("POST", path, json=doc if doc is not None else {}, **extra)

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            return answer(f"custodian {self.name}", path, None, error)
        return answer(f"custodian {self.name}", path, response, None)


def answer(who: str, path: str, response: httpx.Response | None, error: Exception | None) -> Any:
    """The JSON body of an answer, or the domain error its status means, in one line."""
    if response is None:
        raise CustodianDown(f"{who}: unreachable ({type(error).__name__})")
    try:
        body = response.json()
    except ValueError:
        raise InputError(who, path, f"answered {response.status_code}, not JSON") from None
    if response.status_code >= 400:
        message = body.get("error", "") if isinstance(body, dict) else ""
        kind = _BY_STATUS.get(response.status_code)
        if kind is None:
            raise InputError(who, path, message or str(response.status_code))
        raise kind(f"{who}: {message}")
    return body
