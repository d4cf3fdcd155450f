"""Group commit: many small write transactions share one commit (one fsync).

Each job runs inside its own SAVEPOINT of a shared transaction, so a job that fails rolls back
alone (its caller gets the exception) while the others commit together. Every job is atomic
as before — all of its statements commit, or none do — and a caller is answered only after the
commit that made its job durable. Jobs queue while the previous batch's commit is in flight,
so under load a batch holds as many jobs as arrived during one commit.

A job that must be logged returns `Staged`: its ledger entries (already canonical bytes) and a
`finish` step. The entries of every staged job of a batch are appended to the ledger in ONE
append (one lock, one extension of the tree), inside the same transaction; then each job's
`finish` runs with the index of its first entry (to record it beside the state change). If
that append fails, the whole batch fails: no state change commits without its entries.

Plain INSERTs a job does not need to read back (decision rows, reputation events) can be
handed to `defer`: they run at the end of the batch's transaction, one executemany per
statement for the whole batch (rows in job order) — still in the same commit, and dropped with
their job if it fails.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, Executable
from sqlalchemy.engine import Connection

from elsewhere.control.db import write
from elsewhere.ledger.log import Ledger

MAX_BATCH = 64
log = logging.getLogger("elsewhere.control")

Job = tuple[Callable[[Connection], Any], "Future[Any]"]


_deferred = threading.local()  # rows of the batch the commit thread is running


def defer(statement: Executable, row: dict[str, Any]) -> None:
    """Inside a job (or a `finish` step): insert `row` with `statement` at the end of this
    batch's transaction, together with the batch's other rows for the same statement."""
    rows: list[tuple[Executable, dict[str, Any]]] | None = getattr(_deferred, "rows", None)
    if rows is None:
        raise RuntimeError("commit.defer is only for group-commit jobs")
    rows.append((statement, row))


class _JobFailed(Exception):
    """A job failed on the fast path: run the batch again with savepoints."""


@dataclass(frozen=True)
class Staged:
    """A job's result that still needs ledger indexes: entries, and what to do with them."""

    datas: list[bytes]
    kinds: list[str | None]
    finish: Callable[[Connection, int], Any]


class GroupCommitter:
    def __init__(self, engine: Engine, ledger: Ledger) -> None:
        self.engine, self.ledger = engine, ledger
        self.jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._loop, name="elsewhere-commit", daemon=True)
        self.thread.start()

    def run(self, job: Callable[[Connection], Any]) -> Any:
        """Run `job(conn)` in a transaction and return its result once committed (for a
        `Staged` result: what its `finish` returned)."""
        future: Future[Any] = Future()
        self.jobs.put((job, future))
        return future.result()

    def close(self) -> None:
        self.jobs.put(None)
        self.thread.join(timeout=10)

    def _loop(self) -> None:
        while True:
            first = self.jobs.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    more = self.jobs.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self.jobs.put(None)
                    break
                batch.append(more)
            self._commit(batch)

    def _commit(self, batch: list[Job]) -> None:
        """Fast path: every job in one transaction without savepoints. Jobs rarely fail (a
        replayed nonce, a placement taken away); when one does, the batch is rolled back and
        run again with a savepoint per job. Jobs are re-runnable: they only execute statements
        prepared by their caller."""
        try:
            try:
                outcomes = self._run(batch, savepoints=False)
            except _JobFailed as failed:
                if len(batch) == 1:  # nothing else to save: answer with the job's error
                    batch[0][1].set_exception(failed.__cause__ or failed)
                    return
                outcomes = self._run(batch, savepoints=True)
        except BaseException as error:  # the commit itself failed: nothing of the batch holds
            log.error("group commit failed: %s", type(error).__name__)
            for _, future in batch:
                future.set_exception(error)
            return
        self._answer(outcomes)

    def _run(self, batch: list[Job], *, savepoints: bool) -> list[tuple[Future[Any], bool, Any]]:
        outcomes: list[tuple[Future[Any], bool, Any]] = []
        rows: list[tuple[Executable, dict[str, Any]]] = []
        _deferred.rows = rows
        try:
            with write(self.engine) as conn:
                for job, future in batch:
                    savepoint = conn.begin_nested() if savepoints else None
                    mark = len(rows)
                    try:
                        value = job(conn)
                    except BaseException as error:
                        if savepoint is None:
                            raise _JobFailed from error
                        savepoint.rollback()
                        del rows[mark:]  # the failed job's deferred rows go with it
                        outcomes.append((future, False, error))
                    else:
                        if savepoint is not None:
                            savepoint.commit()
                        outcomes.append((future, True, value))
                self._log(conn, outcomes)
                _insert(conn, rows)
        finally:
            _deferred.rows = None
        return outcomes

    @staticmethod
    def _answer(outcomes: list[tuple[Future[Any], bool, Any]]) -> None:
        for future, ok, value in outcomes:
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

    def _log(self, conn: Connection, outcomes: list[tuple[Future[Any], bool, Any]]) -> None:
        """One ledger append for every staged job, then each job's finish step."""
        staged = [(i, v) for i, (_, ok, v) in enumerate(outcomes) if ok and isinstance(v, Staged)]
        if not staged:
            return
        datas = [d for _, s in staged for d in s.datas]
        kinds = [k for _, s in staged for k in s.kinds]
        index = self.ledger.append_canonical(datas, kinds, connection=conn)[0]
        for position, job in staged:
            future = outcomes[position][0]
            outcomes[position] = (future, True, job.finish(conn, index))
            index += len(job.datas)


def _insert(conn: Connection, rows: list[tuple[Executable, dict[str, Any]]]) -> None:
    """One executemany per (statement, columns), in the order the rows were deferred."""
    groups: dict[tuple[int, tuple[str, ...]], tuple[Executable, list[dict[str, Any]]]] = {}
    for statement, row in rows:
        groups.setdefault((id(statement), tuple(row)), (statement, []))[1].append(row)
    for statement, same in groups.values():
        conn.execute(statement, same)
