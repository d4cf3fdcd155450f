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

# One row per proposal this custodian released for: the keep's signing key bound in the
# evidence it verified, and the nonces digest, so only that keep can report that run's output.
runs = sa.Table(
    "custodian_runs",
    metadata,
    sa.Column("proposal_id", sa.String(64), primary_key=True),
    sa.Column("proposal_digest", sa.LargeBinary(32), nullable=False),
    sa.Column("keep_sign_key", sa.LargeBinary(32), nullable=False),
    sa.Column("nonces_digest", sa.LargeBinary(32), nullable=False),
    sa.Column("output_index", sa.BigInteger, nullable=True),
)

# Vetoes still to forward to a peer custodian (kept across restarts; done when acknowledged).
forwards = sa.Table(
    "custodian_forwards",
    metadata,
    sa.Column("proposal_id", sa.String(64), primary_key=True),
    sa.Column("party", sa.String(64), primary_key=True),
    sa.Column("peer", sa.String(64), primary_key=True),
    sa.Column("veto", sa.Text, nullable=False),  # the party's signed veto document
    sa.Column("state", sa.String(16), nullable=False),  # pending | done | failed
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)
