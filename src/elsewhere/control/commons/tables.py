"""The commons registry's tables (migration control_0005_commons), on the control plane's
metadata."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Integer, LargeBinary, String, Table, Text

from elsewhere.db import metadata

rosters = Table(
    "cp_commons_rosters",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("digest", String(80), nullable=False),
    Column("document", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

datasets = Table(
    "cp_commons_datasets",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("owner", String(64), nullable=False),
    Column("digest", String(80), nullable=False),
    Column("ciphertext", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

proposals = Table(
    "cp_commons_proposals",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("digest", String(64), nullable=False),
    Column("document", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

decisions = Table(
    "cp_commons_decisions",
    metadata,
    Column("proposal_id", String(64), primary_key=True),
    Column("party", String(64), primary_key=True),
    Column("verb", String(16), primary_key=True),
    Column("document", Text, nullable=False),
    Column("ledger_index", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

results = Table(
    "cp_commons_results",
    metadata,
    Column("proposal_id", String(64), primary_key=True),
    Column("digest", String(80), nullable=False),
    Column("sealed", Text, nullable=False),
    Column("ledger_index", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
