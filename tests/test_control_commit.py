"""Group commit: jobs of one batch commit together; a failing job rolls back alone; staged
jobs get consecutive ledger indexes in the same transaction."""

from __future__ import annotations

from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Connection

from elsewhere.control.config import ControlConfig, ControlPlane
from elsewhere.control.store.commit import Claim, Staged, defer
from elsewhere.control.store.tables import tenants
from elsewhere.control.store.transactions import read
from elsewhere.ledger.entries import PolicyVersion
from elsewhere.ledger.log import encode_entry
from elsewhere.timeutil import utcnow


def insert(name: str, fail: bool = False, staged: bool = False) -> Any:
    def job(conn: Connection) -> Any:
        conn.execute(tenants.insert().values(id=f"ten_{name}", name=name, created_at=utcnow()))
        if fail:
            raise ValueError(f"{name} fails")
        if staged:
            data, kind = encode_entry(
                PolicyVersion(
                    at=utcnow(), tenant=name, version=1, policy_digest="sha256:" + "0" * 64
                )
            )
            return Staged([data, data], [kind, kind], lambda _conn, index: index)
        return name

    return job


@pytest.mark.parametrize("failing", [False, True])
def test_batch_commits_together_and_failures_roll_back_alone(tmp_path: Path, failing: bool) -> None:
    cp = ControlPlane.open(ControlConfig.for_dir(tmp_path))
    jobs = [insert("a", staged=True), insert("b", fail=failing), insert("c", staged=True)]
    futures: list[Future[Any]] = [Future() for _ in jobs]
    cp.committer._commit([(job, future, ()) for job, future in zip(jobs, futures, strict=True)])
    first, third = futures[0].result(), futures[2].result()
    assert third == first + 2  # one append for the batch, consecutive indexes
    if failing:
        with pytest.raises(ValueError, match="b fails"):
            futures[1].result()
    else:
        assert futures[1].result() == "b"
    with read(cp.engine) as conn:
        names = set(conn.execute(select(tenants.c.name)).scalars())
    assert names == ({"a", "c"} if failing else {"a", "b", "c"})
    assert cp.ledger.size == 4
    assert cp.committer.run(insert("d")) == "d"  # the thread still serves jobs
    with pytest.raises(ValueError):
        cp.committer.run(insert("e", fail=True))
    cp.close()


def test_deferred_rows_commit_with_their_batch_and_go_with_a_failed_job(tmp_path: Path) -> None:
    cp = ControlPlane.open(ControlConfig.for_dir(tmp_path))
    statement = tenants.insert()

    def job(name: str, fail: bool = False) -> Any:
        def run(conn: Connection) -> Any:
            defer(statement, {"id": f"ten_{name}", "name": name, "created_at": utcnow()})
            if fail:
                raise ValueError(f"{name} fails")

            def finish(_conn: Connection, index: int) -> int:
                late = f"{name}-late"
                defer(statement, {"id": f"ten_{late}", "name": late, "created_at": utcnow()})
                return index

            data, kind = encode_entry({"kind": "test", "name": name})
            return Staged([data], [kind], finish)

        return run

    jobs = [job("a"), job("b", fail=True), job("c")]
    futures: list[Future[Any]] = [Future() for _ in jobs]
    cp.committer._commit([(job, future, ()) for job, future in zip(jobs, futures, strict=True)])
    assert futures[2].result() == futures[0].result() + 1
    with pytest.raises(ValueError, match="b fails"):
        futures[1].result()
    with read(cp.engine) as conn:
        names = set(conn.execute(select(tenants.c.name)).scalars())
    assert names == {"a", "c", "a-late", "c-late"}
    with pytest.raises(RuntimeError, match="only for group-commit jobs"):
        defer(statement, {})  # outside a job: nothing to join
    cp.close()


def test_claims_of_a_batch_are_written_together_and_refuse_only_their_job(tmp_path: Path) -> None:
    """Claims run as one executemany per statement; a claim that changes no row (already
    taken, or claimed twice in the batch) refuses its own job with its own error only."""
    cp = ControlPlane.open(ControlConfig.for_dir(tmp_path))
    spend = sqlite.insert(tenants).on_conflict_do_nothing(index_elements=["id"])

    def claim(name: str) -> Claim:
        row = {"id": f"ten_{name}", "name": name, "created_at": utcnow()}
        return Claim(spend, row, name, LookupError(f"{name} already taken"))

    def job(name: str) -> Any:
        return lambda _conn: name

    assert cp.committer.run(job("x"), [claim("x")]) == "x"
    for together in (True, False):  # the batch's own duplicates; an earlier batch's row
        names = ["p", "q", "p", "r"] if together else ["s", "x", "t"]
        futures: list[Future[Any]] = [Future() for _ in names]
        cp.committer._commit([(job(n), f, [claim(n)]) for n, f in zip(names, futures, strict=True)])
        refused = 2 if together else 1
        for position, (name, future) in enumerate(zip(names, futures, strict=True)):
            if position == refused:
                with pytest.raises(LookupError, match=f"{name} already taken"):
                    future.result()
            else:
                assert future.result() == name
    clean: list[Future[Any]] = [Future(), Future()]
    cp.committer._commit([(job(n), f, [claim(n)]) for n, f in zip("uv", clean, strict=True)])
    assert [f.result() for f in clean] == ["u", "v"]
    with read(cp.engine) as conn:
        rows = set(conn.execute(select(tenants.c.name)).scalars())
    assert rows == {"x", "p", "q", "r", "s", "t", "u", "v"}
    with pytest.raises(LookupError, match="q already taken"):  # a batch of one
        cp.committer.run(job("q"), [claim("q")])
    cp.close()
