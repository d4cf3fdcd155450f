"""Transactions on the control plane's store.

Every state change runs inside `write(engine)`: one transaction, BEGIN IMMEDIATE on SQLite (so a
writer never fails half-way with "database is locked"), serialised in-process for SQLite.
Every read and write statement runs under a statement timeout (PostgreSQL `statement_timeout`,
SQLite's busy timeout), so one slow statement fails with a clear error instead of holding a
request thread forever.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, DisconnectionError

from elsewhere.db import make_engine

T = TypeVar("T")
_sqlite_write_lock = threading.Lock()
_no_ping = threading.local()  # set while a `read_retrying` read checks a connection out
POOL_SIZE = 12
# The longest any one statement may run on PostgreSQL before the server cancels it: a request
# waiting on a stuck statement fails with a clear error (503) and frees its thread. SQLite's
# equivalent is the driver's busy timeout (db/engine.py): a lock waited for at most that long.
STATEMENT_TIMEOUT_MS = 15_000
# A replica paused (SIGSTOP) inside a transaction keeps its row locks, the lease's and the
# ledger's among them, and every other replica waits on them for as long as the pause lasts
# (found by bench/faults.py). The server ends a session idle inside a transaction after this
# long, releasing its locks; the paused replica's transaction then fails when it wakes. Far
# longer than any gap between one transaction's statements (milliseconds).
IDLE_IN_TRANSACTION_MS = 4_000
_writer_files: dict[str, int] = {}


@contextmanager
def _between_processes(engine: Engine) -> Iterator[None]:
    """Writers of one SQLite file in several processes (`serve --workers N`) queue on an flock
    of a file beside it: the kernel wakes the next one as soon as the lock is free, where
    SQLite's busy handler would poll with sleeps of up to 100 ms. Released if the process dies."""
    path = engine.url.database
    if not path or path == ":memory:" or path.startswith("file:"):
        yield
        return
    fd = _writer_files.get(path)
    if fd is None:
        fd = _writer_files.setdefault(
            path, os.open(path + "-writer", os.O_RDWR | os.O_CREAT, 0o600)
        )
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


def open_engine(
    url: str, *, statement_timeout_ms: int = STATEMENT_TIMEOUT_MS, **kwargs: Any
) -> Engine:
    """An engine where `write()` transactions start with BEGIN IMMEDIATE on SQLite, and every
    statement on PostgreSQL runs under `statement_timeout_ms`. Its errors never carry statement
    parameters (a log line must not hold a row's values)."""
    # Enough pooled connections for every request thread, the commit thread and maintenance:
    # past pool_size a connection is opened and closed per checkout (a PostgreSQL backend
    # started and ended, or SQLite's file and pragmas, every time).
    postgresql = url.startswith(("postgresql", "postgres"))
    extra: dict[str, Any] = {}
    if postgresql:
        extra = {
            "pool_pre_ping": False,
            "connect_args": {
                "options": f"-c statement_timeout={int(statement_timeout_ms)} "
                f"-c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_MS}"
            },
        }
    engine = make_engine(url, hide_parameters=True, pool_size=POOL_SIZE, **extra, **kwargs)
    if engine.dialect.name == "postgresql":

        @event.listens_for(engine, "checkout")
        def _ping(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
            # The pool's pre-ping, except for `read_retrying` reads (one round trip saved):
            # a connection a restarted server closed is replaced before anyone uses it.
            if getattr(_no_ping, "on", False):
                return
            try:
                engine.dialect.do_ping(dbapi_connection)
            except engine.dialect.loaded_dbapi.Error as error:
                raise DisconnectionError(type(error).__name__) from error

    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _no_implicit_begin(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # we emit BEGIN ourselves

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            options = conn.get_execution_options()
            if options.get("elsewhere_write", False):
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            elif options.get("elsewhere_snapshot", True):
                conn.exec_driver_sql("BEGIN")

    return engine


@contextmanager
def write(engine: Engine) -> Iterator[Connection]:
    """One write transaction: commits on success, rolls back on any exception."""
    if engine.dialect.name == "sqlite":
        with (
            _sqlite_write_lock,
            _between_processes(engine),
            engine.connect().execution_options(elsewhere_write=True) as conn,
            conn.begin(),
        ):
            yield conn
    else:
        with engine.begin() as conn:
            yield conn


@contextmanager
def read(engine: Engine, *, snapshot: bool = True) -> Iterator[Connection]:
    """Reads. On PostgreSQL in autocommit: under READ COMMITTED every statement has its own
    snapshot even inside a transaction, so BEGIN and ROLLBACK would only add two round trips.
    On SQLite the read transaction keeps one snapshot for all of its statements, unless
    `snapshot=False`: then each statement reads the latest commit on its own, as on PostgreSQL
    (for reads whose statements do not depend on each other)."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            yield conn
    else:
        with engine.connect().execution_options(elsewhere_snapshot=snapshot) as conn:
            yield conn


def read_retrying(engine: Engine, reads: Callable[[Connection], T]) -> T:
    """`reads(conn)` in `read(engine, snapshot=False)`, for the hot request paths. On
    PostgreSQL the connection is not pinged at checkout; if it turns out dead (the server
    restarted), it is invalidated and the reads run once more, on a connection pinged at
    checkout (the others in the pool may be dead too). `reads` must only read: it may run
    twice."""
    if engine.dialect.name != "postgresql":
        with read(engine, snapshot=False) as conn:
            return reads(conn)
    _no_ping.on = True
    try:
        try:
            with read(engine) as conn:
                return reads(conn)
        except DBAPIError as error:
            if not error.connection_invalidated:
                raise
        _no_ping.on = False
        with read(engine) as conn:
            return reads(conn)
    finally:
        _no_ping.on = False
