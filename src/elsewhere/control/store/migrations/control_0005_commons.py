"""control plane: the data commons registry (roster, ciphertexts, proposals, decisions, results)

Revision ID: control_0005_commons
Revises: control_0004_console_sessions
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "control_0005_commons"
down_revision = "control_0004_console_sessions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cp_commons_rosters",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("digest", sa.String(80), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "cp_commons_datasets",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("digest", sa.String(80), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "cp_commons_proposals",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "cp_commons_decisions",
        sa.Column("proposal_id", sa.String(64), primary_key=True),
        sa.Column("party", sa.String(64), primary_key=True),
        sa.Column("verb", sa.String(16), primary_key=True),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("ledger_index", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "cp_commons_results",
        sa.Column("proposal_id", sa.String(64), primary_key=True),
        sa.Column("digest", sa.String(80), nullable=False),
        sa.Column("sealed", sa.Text(), nullable=False),
        sa.Column("ledger_index", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    for name in ("results", "decisions", "proposals", "datasets", "rosters"):
        op.drop_table(f"cp_commons_{name}")
