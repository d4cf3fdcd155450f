"""The reads of every attest-and-release, straight on the database driver.

Each nonce and attest request reads one row set (placement, deployment, workload, policy,
host, the advisory-feed count and the sealed secrets). Through SQLAlchemy that read costs a
pool checkout and checkin, a compiled-cache lookup, parameter and result processing: about
0.3 ms of CPU per read on PostgreSQL under load, more than the database spends on it. Here
the SQL is compiled ONCE from the same SQLAlchemy statement (the tables stay defined in one
place), and runs on a driver connection kept per thread, in autocommit: each statement sees
the latest commit, as `db.read_retrying` reads do.

Only statements whose binds and columns need no type processing belong here (strings,
integers, bytes: checked when a statement is compiled). A connection that fails (the server
restarted) is replaced and the read runs once more; reads are safe to repeat.
"""

from __future__ import annotations

import contextlib
import threading
from collections import namedtuple
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.sql import Select


@dataclass(frozen=True)
class _Compiled:
    sql: str
    positions: tuple[str, ...] | None  # bind names in order, for a positional paramstyle
    row: Any  # namedtuple type of the result columns


class HotReads:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._local = threading.local()
        self._compiled: dict[Select[Any], _Compiled] = {}
        self._lock = threading.Lock()
        self._open: list[Any] = []  # every thread's connection, closed by `close`
        dbapi = engine.dialect.loaded_dbapi
        self._dead = (dbapi.OperationalError, dbapi.InterfaceError)

    def all(self, statement: Select[Any], parameters: Mapping[str, Any]) -> list[Any]:
        """Every row of `statement` (attribute access by column label)."""
        compiled = self._compile(statement)
        arguments: Any = (
            parameters
            if compiled.positions is None
            else tuple(parameters[name] for name in compiled.positions)
        )
        for attempt in (1, 2):
            connection = self._connection()
            try:
                cursor = connection.cursor()
                try:
                    cursor.execute(compiled.sql, arguments)
                    return [compiled.row._make(values) for values in cursor.fetchall()]
                finally:
                    cursor.close()
            except self._dead:
                self._discard(connection)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def first(self, statement: Select[Any], parameters: Mapping[str, Any]) -> Any | None:
        rows = self.all(statement, parameters)
        return rows[0] if rows else None

    def close(self) -> None:
        with self._lock:
            connections, self._open = self._open, []
        for connection in connections:
            with contextlib.suppress(Exception):  # a dead one is closed already
                connection.close()

    def _compile(self, statement: Select[Any]) -> _Compiled:
        found = self._compiled.get(statement)
        if found is not None:
            return found
        dialect = self.engine.dialect
        compiled = statement.compile(dialect=dialect)
        processed = [
            name
            for name, bind in compiled.binds.items()
            if bind.type.bind_processor(dialect) is not None
        ] + [
            column.key
            for column in statement.selected_columns
            if column.type.result_processor(dialect, None) is not None
        ]
        if processed:
            raise TypeError(f"hot read of values that need type processing: {processed}")
        labels = list(statement.selected_columns.keys())
        positions = tuple(compiled.positiontup or ()) if compiled.positional else None
        made = _Compiled(str(compiled), positions, namedtuple("Row", labels))
        with self._lock:  # keyed by the statement itself, which it keeps alive
            self._compiled[statement] = made
        return made

    def _connection(self) -> Any:
        connection: Any = getattr(self._local, "connection", None)
        if connection is None:
            pooled = self.engine.raw_connection()  # the engine's connect settings (pragmas)
            pooled.detach()  # this thread's for good; not returned to the pool
            connection = pooled.dbapi_connection
            if self.engine.dialect.name == "postgresql":
                connection.autocommit = True
            with self._lock:
                self._open.append(connection)
            self._local.connection = connection
        return connection

    def _discard(self, connection: Any) -> None:
        self._local.connection = None
        with self._lock:
            if connection in self._open:
                self._open.remove(connection)
        with contextlib.suppress(Exception):  # it failed already; only freeing its resources
            connection.close()
