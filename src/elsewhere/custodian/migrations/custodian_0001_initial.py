"""custodian: deposits, nonces, vetoes, releases, witnessed checkpoints

Revision ID: custodian_0001
Revises:
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "custodian_0001"
down_revision = None
branch_labels = ("custodian",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "custodian_deposits",
        sa.Column("dataset_id", sa.String(64), primary_key=True),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("ciphertext_digest", sa.String(80), nullable=False),
        sa.Column("epsilon_budget", sa.Float, nullable=False),
        sa.Column("epsilon_spent", sa.Float, nullable=False),
        sa.Column("wrapped_share", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "custodian_nonces",
        sa.Column("nonce", sa.String(64), primary_key=True),
        sa.Column("proposal_id", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("spent", sa.Boolean, nullable=False),
    )
    op.create_table(
        "custodian_vetoes",
        sa.Column("proposal_id", sa.String(64), primary_key=True),
        sa.Column("party", sa.String(64), primary_key=True),
        sa.Column("decision", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "custodian_releases",
        sa.Column("proposal_id", sa.String(64), primary_key=True),
        sa.Column("dataset_id", sa.String(64), primary_key=True),
        sa.Column("keep_key_digest", sa.String(80), nullable=False),
        sa.Column("epsilon", sa.Float, nullable=False),
        sa.Column("ledger_index", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "custodian_witnessed",
        sa.Column("origin", sa.String(255), primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("root", sa.LargeBinary(32), nullable=False),
    )


def downgrade() -> None:
    for name in ("witnessed", "releases", "vetoes", "nonces", "deposits"):
        op.drop_table(f"custodian_{name}")
