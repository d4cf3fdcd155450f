"""The vault's Alembic branch (vault_0001) creates exactly the tables vault/schema.py
declares, on SQLite and on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData

from control_helpers import database_url
from elsewhere.control.store.transactions import open_engine
from elsewhere.db import upgrade
from elsewhere.vault import schema

__all__ = ["database_url"]

VAULT_TABLES = (
    schema.vault_subjects,
    schema.vault_records,
    schema.vault_purposes,
    schema.vault_grants,
    schema.vault_rules,
    schema.vault_approvals,
    schema.vault_epochs,
)


def test_vault_migrations_match_the_declared_tables(
    tmp_path: Path, database_url: str | None
) -> None:
    url = database_url or f"sqlite:///{tmp_path / 'm.db'}"
    upgrade(url)
    upgrade(url)
    ours = MetaData()
    for table in VAULT_TABLES:
        table.to_metadata(ours)
    engine = open_engine(url)
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), ours)
    engine.dispose()
    relevant = [d for d in diffs if "vault_" in repr(d) and d[0] != "remove_table"]
    assert relevant == []
