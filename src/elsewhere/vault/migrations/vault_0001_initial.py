"""vault: subjects, records, purposes, grants, retention rules, approvals, backup epochs

Revision ID: vault_0001
Revises:
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "vault_0001"
down_revision = None
branch_labels = ("vault",)
depends_on = None

HASH = sa.String(64)


def upgrade() -> None:
    op.create_table(
        "vault_subjects",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("subject_hash", HASH, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("kek_id", sa.String(32), nullable=True),
        sa.Column("wrapped_key", sa.LargeBinary, nullable=True),
        sa.Column("hold", sa.Boolean, nullable=False),
        sa.Column("born_on", sa.Date, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("erase_after", sa.DateTime(timezone=True), nullable=True),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("erased_index", sa.BigInteger, nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "subject_hash", name="pk_vault_subjects"),
    )
    op.create_index("ix_vault_subjects_born_on", "vault_subjects", ["born_on"])
    op.create_index("ix_vault_subjects_last_used_at", "vault_subjects", ["last_used_at"])
    op.create_table(
        "vault_records",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("subject_hash", HASH, nullable=False),
        sa.Column("purposes", sa.String(1200), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("ciphertext", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_vault_records"),
    )
    op.create_index("ix_vault_records_subject_hash", "vault_records", ["subject_hash"])
    op.create_table(
        "vault_purposes",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("subject_hash", HASH, nullable=False),
        sa.Column("purpose", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "subject_hash", "purpose", name="pk_vault_purposes"),
    )
    op.create_index("ix_vault_purposes_purpose", "vault_purposes", ["purpose"])
    op.create_table(
        "vault_grants",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("deployment_id", sa.String(64), nullable=False),
        sa.Column("purpose", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("deployment_id", "purpose", name="pk_vault_grants"),
    )
    op.create_table(
        "vault_rules",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("target", sa.String(64), nullable=False),
        sa.Column("rule", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_vault_rules"),
    )
    op.create_index("ix_vault_rules_tenant_id", "vault_rules", ["tenant_id"])
    op.create_table(
        "vault_approvals",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("subject_hash", HASH, nullable=False),
        sa.Column("operator", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "subject_hash", "operator", name="pk_vault_approvals"),
    )
    op.create_table(
        "vault_epochs",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("kek_id", sa.String(32), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_vault_epochs"),
    )


def downgrade() -> None:
    for table in (
        "vault_epochs",
        "vault_approvals",
        "vault_rules",
        "vault_grants",
        "vault_purposes",
        "vault_records",
        "vault_subjects",
    ):
        op.drop_table(table)
