"""A client of one custodian over HTTPS (httpx), verifying its certificate against a CA file.
Errors come back as domain errors with the custodian's one-line reason."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import httpx

from elsewhere.errors import Conflict, ElsewhereError, InputError, NotFound, Refused

TIMEOUT_S = 30.0


class CustodianDown(ElsewhereError):
    """The custodian did not answer (connection refused, TLS failure, timeout)."""


_BY_STATUS: dict[int, type[ElsewhereError]] = {403: Refused, 404: NotFound, 409: Conflict}


class CustodianClient:
    def __init__(self, name: str, url: str, ca_file: Path | None) -> None:
        self.name = name
        context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
        self._http = httpx.Client(base_url=url, verify=context, timeout=TIMEOUT_S)

    def close(self) -> None:
        self._http.close()

    def get(self, path: str, **params: Any) -> Any:
        return self._call("GET", path, params=params or None)

    def post(self, path: str, doc: Any = None) -> Any:
        return self._call("POST", path, json=doc if doc is not None else {})

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            raise CustodianDown(
                f"custodian {self.name}: unreachable ({type(error).__name__})"
            ) from None
        try:
            body = response.json()
        except ValueError:
            raise InputError(
                f"custodian {self.name}", path, f"answered {response.status_code}, not JSON"
            ) from None
        if response.status_code >= 400:
            message = body.get("error", "") if isinstance(body, dict) else ""
            kind = _BY_STATUS.get(response.status_code, InputError)
            if kind is InputError:
                raise InputError(
                    f"custodian {self.name}", path, message or str(response.status_code)
                )
            raise kind(f"custodian {self.name}: {message}")
        return body
