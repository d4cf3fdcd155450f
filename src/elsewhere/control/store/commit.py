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

A job's `claims` are rows it must write first, each changing exactly one row (the release's
nonce spend and placement move): a batch of several jobs runs each claim statement ONCE for all
of them (an executemany: one pipelined round trip on PostgreSQL) and checks the total row count;
if any claim did not hold (a replayed nonce, a placement taken away) or two jobs claim the same
key, the batch runs again with savepoints, each job's claims one by one, so that only the jobs
whose claim fails are refused — with their claim's own error.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, Executable
from sqlalchemy.engine import Connection

from elsewhere.control.store.transactions import write
from elsewhere.ledger.log import Ledger

MAX_BATCH = 64
log = logging.getLogger("elsewhere.control")


@dataclass(frozen=True)
class Claim:
    """A row a job writes before it runs, with `statement` (the same object for every job of
    its kind), that must change exactly one row; `key` is what no two jobs of a batch may claim
    at once, `refusal` the job's error when the row is not changed."""

    statement: Executable
    row: dict[str, Any]
    key: str
    refusal: Exception


Job = tuple[Callable[[Connection], Any], "Future[Any]", Sequence[Claim]]


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
        # Called with (seconds, jobs) after each batch committed (the /metrics histogram).
        self.observers: list[Callable[[float, int], None]] = []
        # Called with the number of ledger entries once a batch that appended some committed
        # (the checkpoint signer wakes up: control/scheduling/maintenance.py).
        self.appended: list[Callable[[int], None]] = []
        self.jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._loop, name="elsewhere-commit", daemon=True)
        self.thread.start()

    def run(self, job: Callable[[Connection], Any], claims: Sequence[Claim] = ()) -> Any:
        """Write `claims`, then run `job(conn)`, in a transaction and return the job's result
        once committed (for a `Staged` result: what its `finish` returned)."""
        return self.submit(job, claims).result()

    def submit(self, job: Callable[[Connection], Any], claims: Sequence[Claim] = ()) -> Future[Any]:
        """`run` without waiting: the future holds the result once committed (an event loop
        awaits it with `asyncio.wrap_future` instead of blocking a thread)."""
        future: Future[Any] = Future()
        self.jobs.put((job, future, claims))
        return future

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
        started = time.perf_counter()
        try:
            try:
                outcomes, entries = self._run(batch, savepoints=False)
            except _JobFailed as failed:
                if len(batch) == 1:  # nothing else to save: answer with the job's error
                    batch[0][1].set_exception(failed.__cause__ or failed)
                    return
                outcomes, entries = self._run(batch, savepoints=True)
        except BaseException as error:  # the commit itself failed: nothing of the batch holds
            log.error("group commit failed: %s", type(error).__name__)
            for _, future, _ in batch:
                future.set_exception(error)
            return
        for observe in self.observers:
            observe(time.perf_counter() - started, len(batch))
        if entries:
            for notify in self.appended:
                notify(entries)
        self._answer(outcomes)

    def _run(
        self, batch: list[Job], *, savepoints: bool
    ) -> tuple[list[tuple[Future[Any], bool, Any]], int]:
        """The batch's outcomes once committed, and how many ledger entries it appended."""
        outcomes: list[tuple[Future[Any], bool, Any]] = []
        rows: list[tuple[Executable, dict[str, Any]]] = []
        _deferred.rows = rows
        try:
            with write(self.engine) as conn:
                together = not savepoints and len(batch) > 1
                if together:
                    _claim_together(conn, batch)
                for job, future, claims in batch:
                    savepoint = conn.begin_nested() if savepoints else None
                    mark = len(rows)
                    try:
                        if not together:
                            _claim(conn, claims)
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
                entries = self._log(conn, outcomes)
                _insert(conn, rows)
        finally:
            _deferred.rows = None
        return outcomes, entries

    @staticmethod
    def _answer(outcomes: list[tuple[Future[Any], bool, Any]]) -> None:
        for future, ok, value in outcomes:
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

    def _log(self, conn: Connection, outcomes: list[tuple[Future[Any], bool, Any]]) -> int:
        """One ledger append for every staged job, then each job's finish step; returns the
        number of entries appended."""
        staged = [(i, v) for i, (_, ok, v) in enumerate(outcomes) if ok and isinstance(v, Staged)]
        if not staged:
            return 0
        datas = [d for _, s in staged for d in s.datas]
        kinds = [k for _, s in staged for k in s.kinds]
        index = self.ledger.append_canonical(datas, kinds, connection=conn)[0]
        for position, job in staged:
            future = outcomes[position][0]
            outcomes[position] = (future, True, job.finish(conn, index))
            index += len(job.datas)
        return len(datas)


# An INSERT's row count is kept only when asked for (SQLAlchemy drops it otherwise).
_COUNTED = {"preserve_rowcount": True}


def _execute(conn: Connection, statement: Executable, rows: list[dict[str, Any]]) -> int:
    """`statement` for every row, as SQLAlchemy's executemany (psycopg pipelines the rows in
    one round trip); the number of rows changed."""
    return int(conn.execute(statement, rows, execution_options=_COUNTED).rowcount)


def _claim(conn: Connection, claims: Sequence[Claim]) -> None:
    for claim in claims:
        if _execute(conn, claim.statement, [claim.row]) != 1:
            raise claim.refusal


def _claim_together(conn: Connection, batch: list[Job]) -> None:
    """Every job's claims, one statement (or executemany) per kind; _JobFailed if any did not
    hold."""
    if not conn.dialect.supports_sane_multi_rowcount:
        raise _JobFailed  # no total to check: claim one by one
    groups: dict[int, tuple[Executable, list[dict[str, Any]], set[str]]] = {}
    for _, _, claims in batch:
        for claim in claims:
            statement, rows, keys = groups.setdefault(
                id(claim.statement), (claim.statement, [], set())
            )
            if claim.key in keys:
                raise _JobFailed  # two jobs of the batch claim the same row
            keys.add(claim.key)
            rows.append(claim.row)
    for statement, rows, _ in groups.values():
        try:
            changed = _execute(conn, statement, rows)
        except Exception as error:  # one job's row is at fault: find it one job at a time
            raise _JobFailed from error
        if changed != len(rows):
            raise _JobFailed


def _insert(conn: Connection, rows: list[tuple[Executable, dict[str, Any]]]) -> None:
    """One statement (or executemany) per (statement, columns), in the order the rows were
    deferred."""
    groups: dict[tuple[int, tuple[str, ...]], tuple[Executable, list[dict[str, Any]]]]
    groups = {}
    for statement, row in rows:
        groups.setdefault((id(statement), tuple(row)), (statement, []))[1].append(row)
    for statement, same in groups.values():
        _execute(conn, statement, same)
