"""Ledger tables on the shared metadata.

ledger_state       one row: origin, committed size and root; appends lock it to sequence.
ledger_entries     idx → canonical entry bytes (the leaf data), with its kind for queries.
ledger_hashes      every complete-subtree hash, keyed by merkle.stored_index: rows are only
                   ever added at the end, and a proof reads O(log n) of them by key.
ledger_checkpoints every checkpoint the log signed, by size, so it never signs two roots for
                   one size and can check each new root against the last one it signed.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, Integer, LargeBinary, String, Table, Text

from elsewhere.db.base import metadata

# SQLite makes an INTEGER PRIMARY KEY the rowid itself: the cheapest append-only key there.
Key = BigInteger().with_variant(Integer(), "sqlite")

ledger_state = Table(
    "ledger_state",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("origin", String(255), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("root", LargeBinary(32), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("idx", Key, primary_key=True, autoincrement=False),
    Column("kind", String(64), nullable=True, index=True),
    Column("data", LargeBinary, nullable=False),
)

ledger_hashes = Table(
    "ledger_hashes",
    metadata,
    Column("id", Key, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary(32), nullable=False),
)

ledger_checkpoints = Table(
    "ledger_checkpoints",
    metadata,
    Column("size", Key, primary_key=True, autoincrement=False),
    Column("root", LargeBinary(32), nullable=False),
    Column("note", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
