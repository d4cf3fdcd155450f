"""control plane: risk inputs (tenant budget, deployment impact), placement risk decisions,
control-plane isolation reports, reputation events

Revision ID: control_0002
Revises: control_0001
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "control_0002"
down_revision = "control_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cp_tenants") as batch:
        batch.add_column(sa.Column("risk_budget", sa.Text(), nullable=True))
    with op.batch_alter_table("cp_deployments") as batch:
        batch.add_column(sa.Column("impact", sa.Text(), nullable=True))
    with op.batch_alter_table("cp_placements") as batch:
        batch.add_column(sa.Column("risk", sa.Text(), nullable=True))
    with op.batch_alter_table("cp_results") as batch:
        batch.add_column(sa.Column("host_isolation", sa.Text(), nullable=True))
    op.create_table(
        "cp_reputation_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("host_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("amount", sa.String(length=40), nullable=True),
        sa.Column("currency", sa.String(length=8), nullable=True),
        sa.Column("placement_id", sa.String(length=32), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cp_reputation_events")),
    )
    op.create_index("ix_cp_reputation_events_key", "cp_reputation_events", ["key"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_cp_reputation_events_key", table_name="cp_reputation_events")
    op.drop_table("cp_reputation_events")
    for table, column in (
        ("cp_results", "host_isolation"),
        ("cp_placements", "risk"),
        ("cp_deployments", "impact"),
        ("cp_tenants", "risk_budget"),
    ):
        with op.batch_alter_table(table) as batch:
            batch.drop_column(column)
