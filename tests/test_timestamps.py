"""One text form of a time across the API and the CLI: ISO 8601 in UTC with `Z` (#14).

SQLite hands back naive datetimes and PostgreSQL aware ones; whatever the store, every time the
API answers must read the same way, so a client parses one shape."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import httpx

from control_helpers import control_plane, database_url
from elsewhere.control.tenancy.auth import Kind
from elsewhere.timeutil import iso

__all__ = ["database_url"]

# Anything that looks like a date and a time, in whatever form a formatter might produce.
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
ONE_FORM = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")


def times_in(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [t for v in value.values() for t in times_in(v)]
    if isinstance(value, list):
        return [t for v in value for t in times_in(v)]
    return [value] if isinstance(value, str) and TIMESTAMP.match(value) else []


def test_iso_reads_naive_as_utc_and_converts_other_zones() -> None:
    assert iso(dt.datetime(2026, 1, 2, 3, 4, 5)) == "2026-01-02T03:04:05Z"
    tokyo = dt.timezone(dt.timedelta(hours=9))
    assert iso(dt.datetime(2026, 1, 2, 12, 0, tzinfo=tokyo)) == "2026-01-02T03:00:00Z"


def test_every_time_the_api_answers_is_utc_with_z(tmp_path: Path, database_url: str | None) -> None:
    with control_plane(tmp_path, database_url) as env:
        tenant, digest = env.setup_tenant()
        deployment = tenant.json(
            "POST", "/v1/deployments", json={"workload": digest, "replicas": 1}
        )["id"]
        seen: list[str] = []
        for path in ("/v1/secrets", "/v1/deployments", f"/v1/deployments/{deployment}"):
            seen += times_in(tenant.json("GET", path))
        operator = env.token(Kind.OPERATOR)
        seen += times_in(
            httpx.get(env.url + "/v1/hosts", headers={"Authorization": f"Bearer {operator}"}).json()
        )
        assert seen, "the API answered no times at all: the test checks nothing"
        assert [t for t in seen if not ONE_FORM.match(t)] == []
