"""Many rows in one statement: the group commit's inserts and claims.

A batch of releases writes a few rows per release into each of several tables. An
executemany sends one statement execution per row; on PostgreSQL psycopg pipelines them, but
each still costs a Bind/Execute in the server and about 0.1 ms of Python in the client.
Here, on PostgreSQL, a batch's rows go as one array per column to ONE statement over
`unnest(...)` — one fixed SQL text whatever the batch size, so it is prepared once — and the
statement's row count is the number of rows it inserted or changed (an ON CONFLICT DO NOTHING
insert counts only the rows it did insert). Other databases (SQLite, where an executemany is a
loop in C) run the equivalent SQLAlchemy statement, compiled once, as the driver's
executemany.

Values are bound as SQLAlchemy would bind them: each column type's bind processor runs first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Table, bindparam, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.sql import Executable

_COUNTED = {"preserve_rowcount": True}
_PG = postgresql.dialect()  # type: ignore[no-untyped-call]


def _array_type(table: Table, column: str) -> str:
    return f"{table.c[column].type.compile(dialect=_PG)}[]"


def _quoted(name: str) -> str:
    return str(_PG.identifier_preparer.quote(name))


def _columns(
    table: Table, names: Sequence[str], rows: Sequence[Mapping[str, Any]], dialect: Any
) -> list[list[Any]]:
    """One list per column, each value through its type's bind processor."""
    arrays = []
    for name in names:
        process = table.c[name].type.bind_processor(dialect)
        values = [row[name] for row in rows]
        arrays.append([process(v) for v in values] if process is not None else values)
    return arrays


@dataclass(frozen=True)
class _Compiled:
    """A statement compiled once for a positional-parameter driver (SQLite), with the bind
    processor of each parameter's column: an executemany without SQLAlchemy's per-call work."""

    sql: str
    order: tuple[str, ...]
    processors: tuple[Any, ...]

    @classmethod
    def of(
        cls, conn: Connection, statement: Any, table: Table, columns: Mapping[str, Any]
    ) -> _Compiled:
        """`columns`: parameter name → the column it binds (its name)."""
        compiled = statement.compile(dialect=conn.dialect)
        if not compiled.positional:
            raise TypeError("bulk executemany needs a positional paramstyle")
        order = tuple(compiled.positiontup)
        processors = tuple(
            table.c[str(columns[name])].type.bind_processor(conn.dialect) for name in order
        )
        return cls(str(compiled), order, processors)

    def executemany(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> int:
        pairs = tuple(zip(self.order, self.processors, strict=True))
        values = [tuple(row[n] if p is None else p(row[n]) for n, p in pairs) for row in rows]
        driver: Any = conn.connection.driver_connection
        cursor = driver.cursor()
        try:
            cursor.executemany(self.sql, values)
            return int(cursor.rowcount)
        finally:
            cursor.close()


@dataclass(frozen=True, eq=False)
class BulkInsert:
    """INSERT of whole rows into `table`; with `conflict` (the columns of a unique index),
    rows that would duplicate one are skipped and not counted."""

    table: Table
    conflict: tuple[str, ...] = ()
    _sql: dict[tuple[str, ...], str] = field(default_factory=dict, repr=False)
    _compiled: dict[tuple[str, ...], _Compiled] = field(default_factory=dict, repr=False)

    def statement(self, dialect_name: str) -> Executable:
        """The equivalent SQLAlchemy statement, for an executemany."""
        if not self.conflict:
            return self.table.insert()
        module: Any = sqlite if dialect_name == "sqlite" else postgresql
        statement: Executable = module.insert(self.table).on_conflict_do_nothing(
            index_elements=list(self.conflict)
        )
        return statement

    def run(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> int:
        """Insert `rows` (all with the same keys); the number of rows inserted."""
        if not rows:
            return 0
        names = tuple(rows[0])
        if conn.dialect.name != "postgresql":
            key = (conn.dialect.name, *names)
            compiled = self._compiled.get(key)
            if compiled is None:
                values: dict[str, Any] = {n: bindparam(n) for n in names}
                statement: Any = self.statement(conn.dialect.name)
                compiled = _Compiled.of(
                    conn, statement.values(values), self.table, {n: n for n in names}
                )
                self._compiled[key] = compiled
            return compiled.executemany(conn, rows)
        return self._unnest(conn, names, _columns(self.table, names, rows, conn.dialect))

    def run_columns(
        self, conn: Connection, names: Sequence[str], columns: Sequence[Sequence[Any]]
    ) -> int:
        """`run` for rows given as one sequence per column (`names` in order), values needing
        no bind processing: for callers that have their rows as columns already."""
        if conn.dialect.name != "postgresql":
            rows = [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]
            return self.run(conn, rows)
        return self._unnest(conn, tuple(names), [list(column) for column in columns])

    def _unnest(self, conn: Connection, names: tuple[str, ...], arrays: list[list[Any]]) -> int:
        sql = self._sql.get(names)
        if sql is None:
            arrays_sql = ", ".join(f"%b::{_array_type(self.table, n)}" for n in names)
            target = f"{_quoted(self.table.name)} ({', '.join(map(_quoted, names))})"
            sql = f"INSERT INTO {target} SELECT * FROM unnest({arrays_sql})"
            if self.conflict:
                sql += f" ON CONFLICT ({', '.join(map(_quoted, self.conflict))}) DO NOTHING"
            self._sql[names] = sql
        return _run_on_driver(conn, sql, tuple(arrays))


@dataclass(frozen=True, eq=False)
class BulkUpdate:
    """UPDATE of `table` rows matched on `match` columns, setting `assign` columns, where
    `also` holds: each row given is a dict of parameter names, `match` and `assign` map
    columns to them. The row count is the number of rows changed."""

    table: Table
    match: Mapping[str, str]
    assign: Mapping[str, str]
    also: ColumnElement[bool]
    _sql: list[str] = field(default_factory=list, repr=False)
    _executemany: list[_Compiled] = field(default_factory=list, repr=False)

    def statement(self) -> Executable:
        where = [self.table.c[c] == bindparam(p) for c, p in self.match.items()]
        values: dict[str, Any] = {c: bindparam(p) for c, p in self.assign.items()}
        return update(self.table).where(*where, self.also).values(values)

    def run(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> int:
        if not rows:
            return 0
        columns = {**self.match, **self.assign}
        if conn.dialect.name != "postgresql":
            if not self._executemany:
                parameters = {p: c for c, p in columns.items()}
                # `also` as literal SQL: its own bound values are constants, not row values.
                also = self.also.compile(
                    dialect=conn.dialect, compile_kwargs={"literal_binds": True}
                )
                where = [self.table.c[c] == bindparam(p) for c, p in self.match.items()]
                binds: dict[str, Any] = {c: bindparam(p) for c, p in self.assign.items()}
                statement = update(self.table).where(*where, text(str(also))).values(binds)
                self._executemany.append(_Compiled.of(conn, statement, self.table, parameters))
            return self._executemany[0].executemany(conn, rows)
        if not self._sql:
            name = _quoted(self.table.name)
            arrays = ", ".join(f"%b::{_array_type(self.table, c)}" for c in columns)
            sets = ", ".join(f"{_quoted(c)} = v.{p}" for c, p in self.assign.items())
            matches = " AND ".join(f"{name}.{_quoted(c)} = v.{p}" for c, p in self.match.items())
            literal = self.also.compile(dialect=_PG, compile_kwargs={"literal_binds": True})
            aliases = ", ".join(columns.values())
            self._sql.append(
                f"UPDATE {name} SET {sets} FROM unnest({arrays}) AS v({aliases})"
                f" WHERE {matches} AND {literal}"
            )
        renamed = [{c: row[p] for c, p in columns.items()} for row in rows]
        bound = tuple(_columns(self.table, list(columns), renamed, conn.dialect))
        return _run_on_driver(conn, self._sql[0], bound)


Bulk = BulkInsert | BulkUpdate


@dataclass(frozen=True, eq=False)
class Prepared:
    """A SQLAlchemy statement compiled once per dialect and run on the driver's connection
    inside the caller's transaction, each bind through its type's bind processor: for the
    statements a commit batch runs every time (a ledger append's lock and move)."""

    statement: Any
    _by_dialect: dict[str, tuple[str, tuple[str, ...] | None, dict[str, Any], dict[str, Any]]] = (
        field(default_factory=dict, repr=False)
    )

    def run(self, conn: Connection, parameters: Mapping[str, Any]) -> tuple[int, list[Any]]:
        """(row count, rows returned)."""
        dialect = conn.dialect
        found = self._by_dialect.get(dialect.name)
        if found is None:
            compiled = self.statement.compile(dialect=dialect)
            order = tuple(compiled.positiontup) if compiled.positional else None
            processors = {
                name: bind.type.bind_processor(dialect) for name, bind in compiled.binds.items()
            }
            constants = {k: v for k, v in compiled.params.items() if v is not None}
            found = (str(compiled), order, processors, constants)
            self._by_dialect[dialect.name] = found
        sql, order, processors, constants = found
        values = {
            name: value if processors.get(name) is None else processors[name](value)
            for name, value in {**constants, **parameters}.items()
        }
        bound: Any = values if order is None else tuple(values[name] for name in order)
        driver: Any = conn.connection.driver_connection
        cursor = driver.cursor()
        try:
            cursor.execute(sql, bound)
            rows = cursor.fetchall() if cursor.description is not None else []
            return int(cursor.rowcount), rows
        finally:
            cursor.close()


def driver_rows(conn: Connection, sql: str, parameters: tuple[Any, ...]) -> list[Any]:
    """Rows of a query in the driver's own SQL, inside `conn`'s transaction."""
    driver: Any = conn.connection.driver_connection
    cursor = driver.cursor()
    try:
        cursor.execute(sql, parameters)
        return list(cursor.fetchall())
    finally:
        cursor.close()


def _run_on_driver(conn: Connection, sql: str, parameters: tuple[Any, ...]) -> int:
    """Run on the driver's connection, inside `conn`'s transaction (the same connection):
    SQLAlchemy's execution context would only wrap a statement that is already final."""
    driver: Any = conn.connection.driver_connection
    with driver.cursor() as cursor:
        cursor.execute(sql, parameters)
        return int(cursor.rowcount)
