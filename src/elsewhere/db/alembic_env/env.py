"""Alembic environment: the URL comes from the Config the caller built (elsewhere.db.migrate)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import pool, text

from elsewhere.db.base import metadata
from elsewhere.db.engine import make_engine

config = context.config
url = config.attributes["url"]
# Replicas started together on one fresh PostgreSQL database would each create the version
# table and the same tables at once (a duplicate-key failure in pg_type): the first to take
# this transaction-scoped lock migrates, the others then find the schema current.
MIGRATION_LOCK = 0x656C7365  # "else"

if context.is_offline_mode():
    context.configure(url=url, target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    engine = make_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=metadata)
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK}
                )
            context.run_migrations()
    engine.dispose()
