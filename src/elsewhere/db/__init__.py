"""Database edge: one SQLAlchemy MetaData for every component, engines, and Alembic migrations.

Each component (ledger, control plane) declares its tables on `metadata` and keeps its own
Alembic version directory with its own branch label; `upgrade(url)` applies every head.
"""

from elsewhere.db.base import metadata
from elsewhere.db.engine import DEFAULT_SQLITE_NAME, make_engine
from elsewhere.db.migrate import upgrade

__all__ = ["DEFAULT_SQLITE_NAME", "make_engine", "metadata", "upgrade"]
