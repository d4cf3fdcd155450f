"""Helpers for the ledger tests: a database URL per backend, PostgreSQL in its own schema."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

PG_BASE = os.environ.get("ELSEWHERE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def pg_unreachable() -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_BASE, connect_timeout=10):
            return None
    except Exception as error:  # any failure means: skip, and say why
        return f"PostgreSQL not reachable at {PG_BASE}: {type(error).__name__}"


@contextmanager
def database(backend: str, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL; PostgreSQL gets a unique schema, dropped afterwards,
    so concurrent test runs never see each other's tables."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
        return
    reason = pg_unreachable()
    if reason:
        pytest.skip(reason)
    import psycopg

    schema = f"ledger_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_BASE, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{PG_BASE}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(PG_BASE, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
