"""A release's commit job must be re-runnable and touch nothing but its connection: after the
batch it ran in failed once, the job runs again and still writes the host's last platform
claims (hosts.last_claims), which scheduling and risk read."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Connection

from control_helpers import attest_body, control_plane, database_url  # noqa: F401
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
        assert isinstance(futures[0].result(timeout=remaining()), int)  # its ledger index
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
