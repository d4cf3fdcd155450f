"""A release's commit job must be re-runnable and touch nothing but its connection: after the
batch it ran in failed once, the job runs again and still writes the host's last platform
claims (hosts.last_claims), which scheduling and risk read."""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.engine import Connection

from control_helpers import attest_body, control_plane, database_url, wait_for  # noqa: F401
from elsewhere.control.broker import attest as broker
from elsewhere.control.store.tables import hosts, placements
from elsewhere.control.store.transactions import read
from waits import remaining


def test_a_release_rerun_after_a_failed_batch_still_writes_the_host_claims(
    tmp_path: Path,
    database_url: str | None,  # noqa: F811
) -> None:
    with control_plane(tmp_path, database_url, heartbeat_timeout=dt.timedelta(minutes=10)) as env:
        agent, placement = env.waiting_placement()
        body = broker.AttestRequest(**attest_body(agent.client, agent.attester, placement))
        with read(env.cp.engine) as conn:
            host_id = conn.execute(
                select(placements.c.host_id).where(placements.c.id == placement)
            ).scalar_one()
        release = broker.decide(env.cp, placement, host_id, body)
        assert release.answer["accepted"]

        def failing(_conn: Connection) -> Any:
            raise LookupError("the other job of the batch fails")

        # One batch: the release first, then a job that fails, so the batch's first run rolls
        # back and the release runs again, in its savepoint.
        futures: list[Future[Any]] = [Future(), Future()]
        env.cp.committer._commit(
            [(release.job, futures[0], release.claims), (failing, futures[1], ())]
        )
        logged = futures[0].result(timeout=remaining())  # its ledger index and token
        assert isinstance(logged, broker.Logged) and logged.index >= 0 and logged.token
        with pytest.raises(LookupError):
            futures[1].result(timeout=remaining())
        with read(env.cp.engine) as conn:
            claims = conn.execute(
                select(hosts.c.last_claims).where(hosts.c.id == host_id)
            ).scalar_one()
            state = conn.execute(
                select(placements.c.state).where(placements.c.id == placement)
            ).scalar_one()
        assert state == "released"
        assert claims is not None and '"chip_id"' in claims


def test_a_batch_of_releases_claims_in_one_statement_without_savepoints(
    tmp_path: Path,
    database_url: str | None,  # noqa: F811
) -> None:
    """Several releases in one batch: their nonce spends and placement moves each run as ONE
    statement for the batch, and the batch commits on its first run — no savepoint, no second
    run. (The placement move's live-state test was an expanding IN parameter, which SQLAlchemy
    refuses in an executemany: every batch of two or more fell back to one job at a time.)"""
    with control_plane(tmp_path, database_url, heartbeat_timeout=dt.timedelta(minutes=10)) as env:
        agent = env.agent("genoa", start=False)
        tenant, digest = env.setup_tenant()
        tenant.deploy({"workload": digest, "replicas": 3, "secrets": ["greeting-key"]})
        assigned = wait_for(
            lambda: (
                [a["placement"] for a in agent.client.assignments()][2:]
                and [a["placement"] for a in agent.client.assignments()]
            )
        )
        with read(env.cp.engine) as conn:
            host_id = conn.execute(
                select(placements.c.host_id).where(placements.c.id == assigned[0])
            ).scalar_one()
        releases = []
        for placement in assigned:
            body = broker.AttestRequest(**attest_body(agent.client, agent.attester, placement))
            releases.append(broker.decide(env.cp, placement, host_id, body))
        statements: list[str] = []
        # Only this thread's statements: the scheduler, its lease renewals and the agent's polls
        # run on the same engine in other threads at the same time.
        committing = threading.get_ident()

        def seen(_c: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
            if threading.get_ident() == committing:
                statements.append(statement.split(None, 1)[0].upper())

        event.listen(env.cp.engine, "before_cursor_execute", seen)
        try:
            futures: list[Future[Any]] = [Future() for _ in releases]
            env.cp.committer._commit(
                [(r.job, f, r.claims) for r, f in zip(releases, futures, strict=True)]
            )
            indexes = [f.result(timeout=remaining()) for f in futures]
        finally:
            event.remove(env.cp.engine, "before_cursor_execute", seen)
        assert len(set(indexes)) == len(releases)
        assert "SAVEPOINT" not in statements and "ROLLBACK" not in statements
        assert statements.count("UPDATE") <= 3  # the moves (one), the host claims, the ledger
        with read(env.cp.engine) as conn:
            states = conn.execute(
                select(placements.c.state).where(placements.c.id.in_(assigned))
            ).scalars()
            assert set(states) == {"released"}
