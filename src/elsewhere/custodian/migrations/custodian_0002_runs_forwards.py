"""custodian: the keep signing key of each run (signed result reports); veto forwarding

Revision ID: custodian_0002
Revises: custodian_0001
Create Date: 2026-12-11
"""

import sqlalchemy as sa
from alembic import op

revision = "custodian_0002"
down_revision = "custodian_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "custodian_runs",
        sa.Column("proposal_id", sa.String(64), primary_key=True),
        sa.Column("proposal_digest", sa.LargeBinary(32), nullable=False),
        sa.Column("keep_sign_key", sa.LargeBinary(32), nullable=False),
        sa.Column("nonces_digest", sa.LargeBinary(32), nullable=False),
        sa.Column("output_index", sa.BigInteger, nullable=True),
    )
    op.create_table(
        "custodian_forwards",
        sa.Column("proposal_id", sa.String(64), primary_key=True),
        sa.Column("party", sa.String(64), primary_key=True),
        sa.Column("peer", sa.String(64), primary_key=True),
        sa.Column("veto", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("custodian_forwards")
    op.drop_table("custodian_runs")
