"""Hot-path reads on PostgreSQL skip the pool's ping; a connection the server dropped (a
restart) must still not fail a request: the read runs once more on a fresh connection.
Note: `_drop_backends` ends every connection to the test's database but the admin's own."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import text

from control_helpers import PG_ADMIN, postgres_available
from elsewhere.control.store.transactions import open_engine, read, read_retrying


def _drop_backends(database: str) -> int:
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        ).fetchall()
    return len(rows)


def test_reads_survive_dropped_connections() -> None:
    pg = postgres_available()
    if pg is None:
        pytest.skip("PostgreSQL not reachable at 127.0.0.1:5432")
    with pg as url:
        engine = open_engine(url)
        try:
            database = engine.url.database
            assert database is not None
            one = text("SELECT 1")
            assert read_retrying(engine, lambda conn: conn.execute(one).scalar_one()) == 1
            assert _drop_backends(database) == 1  # the pooled connection is now dead

            # Without a ping the first attempt meets a dead connection; it is retried.
            calls: list[int] = []

            def reads(conn: object) -> int:
                calls.append(1)
                return int(conn.execute(one).scalar_one())  # type: ignore[attr-defined]

            assert read_retrying(engine, reads) == 1
            assert len(calls) == 2
            # Other reads keep the ping at checkout: they never see a dead connection.
            assert _drop_backends(database) == 1
            with read(engine) as conn:
                assert conn.execute(one).scalar_one() == 1
        finally:
            engine.dispose()
