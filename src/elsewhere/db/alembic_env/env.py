"""Alembic environment: the URL comes from the Config the caller built (elsewhere.db.migrate)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import pool

from elsewhere.db.base import metadata
from elsewhere.db.engine import make_engine

config = context.config
url = config.attributes["url"]

if context.is_offline_mode():
    context.configure(url=url, target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    engine = make_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=metadata)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()
