"""control plane: leases for the once-per-cluster duties of replicas (scheduler, checkpoints)

Revision ID: control_0006_leases
Revises: control_0005_commons
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "control_0006_leases"
down_revision = "control_0005_commons"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cp_leases",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(128), nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
        sa.Column("taken_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("cp_leases")
