"""Leases on SQLite and PostgreSQL: one holder at a time, renewed by its holder, taken over
only once expired. (On PostgreSQL the take used to read SQLAlchemy's -1 row count of an
INSERT … ON CONFLICT DO NOTHING as success: a second replica "held" a held lease, and both
signed checkpoints and scheduled.)"""

from __future__ import annotations

from pathlib import Path

from control_helpers import database_url
from elsewhere.control.scheduling import leases
from elsewhere.control.store.transactions import open_engine, write
from elsewhere.db import upgrade

__all__ = ["database_url"]


def test_one_holder_at_a_time(tmp_path: Path, database_url: str | None) -> None:
    url = database_url or f"sqlite:///{tmp_path / 'leases.db'}"
    upgrade(url)
    engine = open_engine(url, statement_timeout_ms=10_000)
    try:

        def hold(holder: str, seconds: float = 3600.0) -> bool:
            with write(engine) as conn:
                return leases.hold(conn, leases.CHECKPOINTS, holder, seconds)

        assert hold("a")  # created
        assert not hold("b")  # held by a: refused, on the first try and on renewal attempts
        assert not hold("b")
        assert hold("a")  # renewed by its holder
        assert hold("a", seconds=-1.0)  # a's lease now expired
        assert hold("b")  # taken over
        assert not hold("a")
        with engine.connect() as conn:
            (lease,) = leases.current(conn)
        assert (lease.name, lease.holder) == (leases.CHECKPOINTS, "b")
    finally:
        engine.dispose()
