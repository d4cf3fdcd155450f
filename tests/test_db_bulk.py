"""db/bulk.py: a batch's rows in one statement on PostgreSQL (unnest), an executemany
elsewhere — with the same row counts, which the group commit's claims rely on."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import select

from control_helpers import database_url
from elsewhere.control.config import ControlConfig, ControlPlane
from elsewhere.control.db import read, tenants, write
from elsewhere.db.bulk import BulkInsert, BulkUpdate

__all__ = ["database_url"]

INSERT = BulkInsert(tenants)
CLAIM = BulkInsert(tenants, conflict=("id",))
RENAME = BulkUpdate(
    tenants,
    match={"id": "t_id"},
    assign={"name": "t_name", "risk_budget": "t_budget"},
    also=tenants.c.name.like("old-%"),
)


def test_counts_and_values_match_an_executemany(tmp_path: Path, database_url: str | None) -> None:
    cp = ControlPlane.open(ControlConfig.for_dir(tmp_path, database_url))
    paris = dt.timezone(dt.timedelta(hours=1))
    at = dt.datetime(2026, 11, 27, 3, 0, tzinfo=paris)  # stored as UTC by the column's type
    try:
        with write(cp.engine) as conn:
            rows = [{"id": f"t{i}", "name": f"old-{i}", "created_at": at} for i in range(3)]
            assert INSERT.run(conn, rows) == 3
            assert INSERT.run(conn, []) == 0
            # A conflict skips the row and does not count it; new rows count.
            again = [{"id": "t1", "name": "dup", "created_at": at}]
            again.append({"id": "t9", "name": "new-9", "created_at": at})
            assert CLAIM.run(conn, again) == 1
            by_column = CLAIM.run_columns(
                conn, ("id", "name", "created_at"), (["t9", "t8"], ["x", "old-8"], [at, at])
            )
            assert by_column == 1
            # Only rows that match and satisfy `also` change (t9 is not "old-").
            renames = [
                {"t_id": "t0", "t_name": "zero", "t_budget": None},
                {"t_id": "t9", "t_name": "nine", "t_budget": "5 USD"},
                {"t_id": "t8", "t_name": "eight", "t_budget": '{"amount": "7"}'},
                {"t_id": "missing", "t_name": "none", "t_budget": None},
            ]
            assert RENAME.run(conn, renames) == 2
        with read(cp.engine) as conn:
            stored = {
                row.id: (row.name, row.risk_budget, row.created_at)
                for row in conn.execute(select(tenants))
            }
        assert {k: v[:2] for k, v in stored.items()} == {
            "t0": ("zero", None),
            "t1": ("old-1", None),
            "t2": ("old-2", None),
            "t8": ("eight", '{"amount": "7"}'),
            "t9": ("new-9", None),
        }
        assert {v[2] for v in stored.values()} == {at.astimezone(dt.UTC)}
    finally:
        cp.close()
