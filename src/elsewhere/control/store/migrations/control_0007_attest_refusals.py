"""control plane: hosts that report they cannot attest (consecutive count, last reason), and
the last refusal each replica met (kept when it is re-placed, so the tenant sees why)

Revision ID: control_0007_attest_refusals
Revises: control_0006_leases
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "control_0007_attest_refusals"
down_revision = "control_0006_leases"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cp_hosts") as batch:
        batch.add_column(
            sa.Column("attest_refusals", sa.Integer, nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("attest_refusal", sa.Text))
    with op.batch_alter_table("cp_placements") as batch:
        batch.add_column(sa.Column("refusal", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("cp_placements") as batch:
        batch.drop_column("refusal")
    with op.batch_alter_table("cp_hosts") as batch:
        batch.drop_column("attest_refusal")
        batch.drop_column("attest_refusals")
