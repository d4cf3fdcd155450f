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
    """A statement compiled once for one dialect, run on the driver's connection inside the
    caller's transaction: its SQL, each bind's name and bind processor in order, and the
    values of its constant binds (an executemany or execute without SQLAlchemy's per-call
    work)."""

    sql: str
    pairs: tuple[tuple[str, Any], ...]  # (bind name, bind processor or None), in order
    positional: bool
    constants: Mapping[str, Any]

    @classmethod
    def of(
        cls, conn: Connection, statement: Any, columns: Mapping[str, Any] | None = None
    ) -> _Compiled:
        """`columns`: bind name → the column type it binds, where the statement's own bind
        carries none (row values of a bulk statement)."""
        dialect = conn.dialect
        compiled = statement.compile(dialect=dialect)
        names = tuple(compiled.positiontup) if compiled.positional else tuple(compiled.params)
        # By rendered name: an anonymous bind ("id_1") is keyed otherwise in `binds`.
        types = {compiled.bind_names[bind]: bind.type for bind in compiled.binds.values()}
        types.update(columns or {})
        pairs = tuple((n, types[n].bind_processor(dialect) if n in types else None) for n in names)
        constants = {k: v for k, v in compiled.params.items() if v is not None}
        return cls(str(compiled), pairs, compiled.positional, constants)

    def bind(self, row: Mapping[str, Any]) -> Any:
        if self.constants:
            row = {**self.constants, **row}
        values = tuple(row[n] if p is None else p(row[n]) for n, p in self.pairs)
        return (
            values
            if self.positional
            else dict(zip((n for n, _ in self.pairs), values, strict=True))
        )

    def executemany(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> int:
        """The statement once per row (the driver's executemany); the total row count."""
        driver: Any = conn.connection.driver_connection
        cursor = driver.cursor()
        try:
            cursor.executemany(self.sql, [self.bind(row) for row in rows])
            return int(cursor.rowcount)
        finally:
            cursor.close()

    def execute(self, conn: Connection, row: Mapping[str, Any]) -> tuple[int, list[Any]]:
        """(row count, rows returned)."""
        driver: Any = conn.connection.driver_connection
        cursor = driver.cursor()
        try:
            cursor.execute(self.sql, self.bind(row))
            rows = cursor.fetchall() if cursor.description is not None else []
            return int(cursor.rowcount), rows
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
                types = {n: self.table.c[n].type for n in names}
                compiled = _Compiled.of(conn, statement.values(values), types)
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
                types = {p: self.table.c[c].type for p, c in parameters.items()}
                self._executemany.append(_Compiled.of(conn, statement, types))
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
    inside the caller's transaction: for the statements a commit batch runs every time (a
    ledger append's lock and move)."""

    statement: Any
    _by_dialect: dict[str, _Compiled] = field(default_factory=dict, repr=False)

    def run(self, conn: Connection, parameters: Mapping[str, Any]) -> tuple[int, list[Any]]:
        """(row count, rows returned)."""
        compiled = self._by_dialect.get(conn.dialect.name)
        if compiled is None:
            compiled = self._by_dialect[conn.dialect.name] = _Compiled.of(conn, self.statement)
        return compiled.execute(conn, parameters)


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
