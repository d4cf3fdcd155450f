"""Hot-path reads on PostgreSQL skip the pool's ping; a connection the server dropped (a
restart) must still not fail a request: the read runs once more on a fresh connection.
Note: `_drop_backends` ends every connection to the test's database but the admin's own."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import bindparam, select, text

from control_helpers import PG_ADMIN, postgres_available
from elsewhere.control.db import open_engine, read, read_retrying, tenants, write
from elsewhere.control.hotreads import HotReads
from elsewhere.control.tenants import create_tenant
from elsewhere.db import upgrade


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


def test_hot_reads_survive_a_dropped_connection_and_refuse_typed_values() -> None:
    """The driver-level hot reads (control/hotreads.py) replace a connection the server
    dropped and read once more; a statement whose values need type processing is refused."""
    pg = postgres_available()
    if pg is None:
        pytest.skip("PostgreSQL not reachable at 127.0.0.1:5432")
    with pg as url:
        upgrade(url)
        engine = open_engine(url)
        reads = HotReads(engine)
        try:
            database = engine.url.database
            assert database is not None
            names = select(tenants.c.name).where(tenants.c.id == bindparam("id"))
            assert reads.all(names, {"id": "t_none"}) == []
            assert _drop_backends(database) == 1  # the hot read's connection
            with write(engine) as conn:
                create_tenant(conn, "after-restart")
            found = reads.all(select(tenants.c.name), {})
            assert [row.name for row in found] == ["after-restart"]
            with pytest.raises(TypeError, match="type processing"):
                reads.all(select(tenants.c.created_at), {})
        finally:
            reads.close()
            engine.dispose()
