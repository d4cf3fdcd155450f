"""The control plane's Alembic branch creates exactly the tables its code declares, on SQLite
and on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData

from control_helpers import database_url
from elsewhere.control.store.tables import CONTROL_TABLES
from elsewhere.control.store.transactions import open_engine
from elsewhere.db import upgrade

__all__ = ["database_url"]


def test_migrations_match_the_declared_tables(tmp_path: Path, database_url: str | None) -> None:
    url = database_url or f"sqlite:///{tmp_path / 'm.db'}"
    upgrade(url)
    upgrade(url)  # idempotent: every head already applied
    ours = MetaData()
    for table in CONTROL_TABLES:
        table.to_metadata(ours)
    engine = open_engine(url)
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), ours)
    engine.dispose()
    # Other components' tables (the ledger's) live in the same database: compare ours only.
    relevant = [d for d in diffs if "cp_" in repr(d) and d[0] != "remove_table"]
    assert relevant == []
