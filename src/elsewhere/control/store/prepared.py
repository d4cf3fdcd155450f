"""Hot reads compiled once per dialect and run on the connection's cursor.

`conn.execute(select(...))` costs, per call, a cache-key walk of the statement, a compiled-cache
lookup, parameter processing and a result-processor pass; on the attest-and-release path that
is more than the read itself. `run` instead sends the SQL SQLAlchemy compiled for the engine's
dialect, once, through the same `Connection` (the pool, its events and the statement timeout
stay as they are: nothing is detached from SQLAlchemy). That is only the same thing when no
parameter and no column needs type processing in that dialect; this is checked when the
statement is first compiled — a statement that needs it runs through `conn.execute` as usual,
so a column type added later cannot make a hot read wrong.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Select
from sqlalchemy.engine import Connection, Dialect, Row
from sqlalchemy.sql.compiler import SQLCompiler


class _Compiled:
    def __init__(self, statement: Select[Any], dialect: Dialect) -> None:
        self.statement = statement  # held: its id stays its own
        compiled = statement.compile(dialect=dialect)
        assert isinstance(compiled, SQLCompiler)
        self.sql = compiled.string
        self.positions: Sequence[str] | None = compiled.positiontup
        self.raw = not compiled._bind_processors and all(
            column[3]._cached_result_processor(dialect, None) is None
            for column in compiled._result_columns
        )


_compiled: dict[tuple[int, str], _Compiled] = {}


def run(
    conn: Connection, statement: Select[Any], parameters: Mapping[str, Any]
) -> Sequence[Row[Any]]:
    """The rows of `statement` (built once and kept: compiled once) with `parameters`."""
    dialect = conn.dialect
    key = (id(statement), dialect.name)
    compiled = _compiled.get(key)
    if compiled is None or compiled.statement is not statement:
        compiled = _compiled[key] = _Compiled(statement, dialect)
    if not compiled.raw:
        return conn.execute(statement, dict(parameters)).all()
    if compiled.positions is None:
        return conn.exec_driver_sql(compiled.sql, dict(parameters)).all()
    values = tuple(parameters[name] for name in compiled.positions)
    return conn.exec_driver_sql(compiled.sql, values).all()
