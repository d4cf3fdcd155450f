"""The custodian's own tables (Alembic branch `custodian`, elsewhere.custodian.migrations)."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

deposits = sa.Table(
    "custodian_deposits",
    metadata,
    sa.Column("dataset_id", sa.String(64), primary_key=True),
    sa.Column("owner", sa.String(64), nullable=False),
    sa.Column("ciphertext_digest", sa.String(80), nullable=False),
    sa.Column("epsilon_budget", sa.Float, nullable=False),
    sa.Column("epsilon_spent", sa.Float, nullable=False),
    sa.Column("wrapped_share", sa.LargeBinary, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

nonces = sa.Table(
    "custodian_nonces",
    metadata,
    sa.Column("nonce", sa.String(64), primary_key=True),
    sa.Column("proposal_id", sa.String(64), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("spent", sa.Boolean, nullable=False),
)

vetoes = sa.Table(
    "custodian_vetoes",
    metadata,
    sa.Column("proposal_id", sa.String(64), primary_key=True),
    sa.Column("party", sa.String(64), primary_key=True),
    sa.Column("decision", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

releases = sa.Table(
    "custodian_releases",
    metadata,
    sa.Column("proposal_id", sa.String(64), primary_key=True),
    sa.Column("dataset_id", sa.String(64), primary_key=True),
    sa.Column("keep_key_digest", sa.String(80), nullable=False),
    sa.Column("epsilon", sa.Float, nullable=False),
    sa.Column("ledger_index", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

witnessed = sa.Table(
    "custodian_witnessed",
    metadata,
    sa.Column("origin", sa.String(255), primary_key=True),  # the log's roster name
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("root", sa.LargeBinary(32), nullable=False),
)
