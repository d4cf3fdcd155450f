"""Whether a database's schema is the newest this code knows: for readiness checks."""

from __future__ import annotations

import functools

from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from elsewhere.db.migrate import alembic_config


@functools.cache
def known_heads() -> frozenset[str]:
    """Every component's newest revision, as this code's migrations define them."""
    return frozenset(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())


def missing_heads(conn: Connection) -> list[str]:
    """The newest revisions the database at `conn` has not reached (empty: current)."""
    applied = set(MigrationContext.configure(conn).get_current_heads())
    return sorted(known_heads() - applied)
