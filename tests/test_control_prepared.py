"""Hot reads compiled once (control/store/prepared.py): the same rows as SQLAlchemy's own
execution, on SQLite and PostgreSQL; a statement whose columns or parameters need type
processing, or whose columns have no name a row can carry, runs through SQLAlchemy as usual, so
its values still come back typed; a driver's error comes out as SQLAlchemy's, and a connection
the server dropped is retried on a fresh one."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import bindparam, func, literal_column, select
from sqlalchemy.exc import DBAPIError, OperationalError

from control_helpers import (  # noqa: F401
    DEMO_POLICY,
    PG_ADMIN,
    database_url,
    greeter_wasm,
    postgres_available,
)
from elsewhere.control.broker.context import _CONTEXT, _context_and_secrets
from elsewhere.control.broker.secrets import put_secret
from elsewhere.control.config import ControlConfig, ControlPlane
from elsewhere.control.scheduling import scheduler
from elsewhere.control.store import prepared
from elsewhere.control.store.tables import hosts
from elsewhere.control.store.transactions import open_engine, read, read_retrying, write
from elsewhere.control.tenancy.deployments import DeployRequest, create_deployment
from elsewhere.control.tenancy.tenants import create_tenant
from elsewhere.control.tenancy.workloads import store_workload
from elsewhere.control.trust.policies import store_policy
from test_control_scheduler import host as sched_host

_SEEN = select(hosts.c.id, hosts.c.last_seen).where(hosts.c.last_seen >= bindparam("since"))


def test_prepared_reads_match_sqlalchemy_and_keep_typed_columns_typed(
    tmp_path: Path,
    database_url: str | None,  # noqa: F811
) -> None:
    cp = ControlPlane.open(ControlConfig.for_dir(tmp_path, database_url))
    try:
        with write(cp.engine) as conn:
            tenant = create_tenant(conn, "acme").id
            digest = store_workload(conn, tenant, "g.wasm", greeter_wasm())["digest"]
            store_policy(conn, tenant, DEMO_POLICY)
            host_id = sched_host(conn, "genoa", None)
            put_secret(conn, cp.kek, tenant, "greeting-key", b"value")
            create_deployment(
                conn,
                tenant,
                DeployRequest(workload=digest, replicas=1, secrets=["greeting-key"]),
            )
            [(placement, _)] = scheduler.schedule(conn, dt.timedelta(minutes=1))
        cases = [
            (_CONTEXT, {"placement_id": placement, "host_id": host_id}),
            (
                _context_and_secrets(1),
                {"placement_id": placement, "host_id": host_id, "name_0": "greeting-key"},
            ),
            (_CONTEXT, {"placement_id": "pl_missing", "host_id": host_id}),
        ]
        with read(cp.engine) as conn:
            for statement, parameters in cases:
                fast = prepared.run(conn, statement, parameters)
                usual = conn.execute(statement, parameters).all()
                assert [tuple(r) for r in fast] == [tuple(r) for r in usual]
                assert [r._fields for r in fast] == [tuple(r._mapping.keys()) for r in usual]
            since = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
            (seen,) = prepared.run(conn, _SEEN, {"since": since})
        assert seen.id == host_id and isinstance(seen.last_seen, dt.datetime)
        assert seen.last_seen.tzinfo is not None
        dialect = cp.engine.dialect.name
        assert prepared._compiled[(id(_CONTEXT), dialect)].raw
        assert not prepared._compiled[(id(_SEEN), dialect)].raw  # needs type processing
    finally:
        cp.close()


def test_unnamed_columns_run_through_sqlalchemy_and_errors_are_sqlalchemys(
    tmp_path: Path,
    database_url: str | None,  # noqa: F811
) -> None:
    cp = ControlPlane.open(ControlConfig.for_dir(tmp_path, database_url))
    odd = select(literal_column("1").label("not a name"), hosts.c.id.label("_private"))
    broken = select(literal_column("no_such_column"))
    try:
        with read(cp.engine) as conn:
            assert prepared.run(conn, odd, {}) == []  # no host yet: no row, and no error
        assert not prepared._compiled[(id(odd), cp.engine.dialect.name)].raw
        with pytest.raises(DBAPIError) as raised, read(cp.engine) as conn:
            prepared.run(conn, broken, {})
        assert prepared._compiled[(id(broken), cp.engine.dialect.name)].raw
        assert isinstance(raised.value.orig, cp.engine.dialect.loaded_dbapi.Error)
    finally:
        cp.close()


def test_a_prepared_read_on_a_dropped_connection_runs_again_and_a_slow_one_times_out() -> None:
    pg = postgres_available()
    if pg is None:
        pytest.skip("PostgreSQL not reachable at 127.0.0.1:5432")
    one = select(literal_column("1").label("one"))
    with pg as url:
        engine = open_engine(url, statement_timeout_ms=200)
        try:
            read_rows = lambda conn: prepared.run(conn, one, {})  # noqa: E731
            assert [r.one for r in read_retrying(engine, read_rows)] == [1]
            with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                dropped = admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = %s AND pid <> pg_backend_pid()",
                    (engine.url.database,),
                ).fetchall()
            assert len(dropped) == 1  # the pooled connection is now dead
            assert [r.one for r in read_retrying(engine, read_rows)] == [1]
            slow = select(func.pg_sleep(bindparam("seconds")).label("slept"))
            with pytest.raises(OperationalError), read(engine) as conn:  # maps to 503
                prepared.run(conn, slow, {"seconds": 2})
            assert prepared._compiled[(id(slow), "postgresql")].raw
            own = select(func.pg_sleep(0).label("slept"))  # a bind with its own value
            with read(engine) as conn:
                assert len(prepared.run(conn, own, {})) == 1
            assert not prepared._compiled[(id(own), "postgresql")].raw
        finally:
            engine.dispose()
