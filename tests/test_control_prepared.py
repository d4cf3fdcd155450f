"""Hot reads compiled once (control/store/prepared.py): the same rows as SQLAlchemy's own
execution, on SQLite and PostgreSQL; a statement whose columns or parameters need type
processing runs through SQLAlchemy as usual, so its values still come back typed."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import bindparam, select

from control_helpers import DEMO_POLICY, database_url, greeter_wasm  # noqa: F401
from elsewhere.control.broker.context import _CONTEXT, _context_and_secrets
from elsewhere.control.broker.secrets import put_secret
from elsewhere.control.config import ControlConfig, ControlPlane
from elsewhere.control.scheduling import scheduler
from elsewhere.control.store import prepared
from elsewhere.control.store.tables import hosts
from elsewhere.control.store.transactions import read, write
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
                assert [r._mapping.keys() for r in fast] == [r._mapping.keys() for r in usual]
            since = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
            (seen,) = prepared.run(conn, _SEEN, {"since": since})
        assert seen.id == host_id and isinstance(seen.last_seen, dt.datetime)
        assert seen.last_seen.tzinfo is not None
        dialect = cp.engine.dialect.name
        assert prepared._compiled[(id(_CONTEXT), dialect)].raw
        assert not prepared._compiled[(id(_SEEN), dialect)].raw  # needs type processing
    finally:
        cp.close()
