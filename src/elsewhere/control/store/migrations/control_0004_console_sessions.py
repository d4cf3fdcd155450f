"""control plane: web console sessions

Revision ID: control_0004_console_sessions
Revises: control_0003_tenant_cli
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "control_0004_console_sessions"
down_revision = "control_0003_tenant_cli"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cp_console_sessions",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("credential_id", sa.String(length=32), nullable=False),
        sa.Column("csrf", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["credential_id"],
            ["cp_credentials.id"],
            name=op.f("fk_cp_console_sessions_credential_id_cp_credentials"),
        ),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_cp_console_sessions")),
    )


def downgrade() -> None:
    op.drop_table("cp_console_sessions")
