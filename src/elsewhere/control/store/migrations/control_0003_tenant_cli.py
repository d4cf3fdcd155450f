"""control plane: workloads can be deleted (bytes erased, the row kept for past deployments)

Revision ID: control_0003_tenant_cli
Revises: control_0002
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "control_0003_tenant_cli"
down_revision = "control_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cp_workloads") as batch:
        batch.add_column(sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cp_workloads") as batch:
        batch.drop_column("deleted_at")
