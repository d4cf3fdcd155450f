"""control plane: continuous attestation (last attested, re-attestation due and deadline)

Revision ID: control_0008_reattest
Revises: control_0007_attest_refusals
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "control_0008_reattest"
down_revision = "control_0007_attest_refusals"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cp_hosts") as batch:
        batch.add_column(sa.Column("last_attested", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("cp_placements") as batch:
        batch.add_column(sa.Column("attested_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("reattest_due", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("reattest_deadline", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cp_placements") as batch:
        batch.drop_column("reattest_deadline")
        batch.drop_column("reattest_due")
        batch.drop_column("attested_at")
    with op.batch_alter_table("cp_hosts") as batch:
        batch.drop_column("last_attested")
