"""control plane: tenants, credentials, hosts, workloads, secrets, policies, deployments,
placements, nonces, decisions, results, advisory feeds

Revision ID: control_0001
Revises:
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "control_0001"
down_revision = None
branch_labels = ("control",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cp_advisory_feeds",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cp_advisory_feeds")),
    )
    op.create_table(
        "cp_credentials",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=32), nullable=True),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cp_credentials")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_cp_credentials_token_hash")),
    )
    op.create_table(
        "cp_tenants",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cp_tenants")),
        sa.UniqueConstraint("name", name=op.f("uq_cp_tenants_name")),
    )
    op.create_table(
        "cp_hosts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("credential_id", sa.String(length=32), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("attester", sa.String(length=32), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_claims", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["credential_id"],
            ["cp_credentials.id"],
            name=op.f("fk_cp_hosts_credential_id_cp_credentials"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cp_hosts")),
        sa.UniqueConstraint("credential_id", name=op.f("uq_cp_hosts_credential_id")),
    )
    op.create_table(
        "cp_policies",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=120), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["cp_tenants.id"], name=op.f("fk_cp_policies_tenant_id_cp_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cp_policies")),
        sa.UniqueConstraint("tenant_id", "version", name="uq_cp_policies_tenant_version"),
    )
    op.create_table(
        "cp_secrets",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kek_id", sa.String(length=16), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["cp_tenants.id"], name=op.f("fk_cp_secrets_tenant_id_cp_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cp_secrets")),
        sa.UniqueConstraint("tenant_id", "name", name="uq_cp_secrets_tenant_name"),
    )
    op.create_table(
        "cp_workloads",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("digest", sa.String(length=96), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("wasm", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["cp_tenants.id"], name=op.f("fk_cp_workloads_tenant_id_cp_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cp_workloads")),
        sa.UniqueConstraint("tenant_id", "digest", name="uq_cp_workloads_tenant_digest"),
    )
    op.create_table(
        "cp_deployments",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("workload_id", sa.String(length=32), nullable=False),
        sa.Column("policy_id", sa.String(length=32), nullable=False),
        sa.Column("replicas", sa.Integer(), nullable=False),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("result_key", sa.LargeBinary(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["policy_id"], ["cp_policies.id"], name=op.f("fk_cp_deployments_policy_id_cp_policies")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["cp_tenants.id"], name=op.f("fk_cp_deployments_tenant_id_cp_tenants")
        ),
        sa.ForeignKeyConstraint(
            ["workload_id"],
            ["cp_workloads.id"],
            name=op.f("fk_cp_deployments_workload_id_cp_workloads"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cp_deployments")),
    )
    op.create_table(
        "cp_placements",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("deployment_id", sa.String(length=32), nullable=False),
        sa.Column("replica", sa.Integer(), nullable=False),
        sa.Column("host_id", sa.String(length=32), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("keep_key_digest", sa.String(length=96), nullable=True),
        sa.Column("drain_deadline", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["cp_deployments.id"],
            name=op.f("fk_cp_placements_deployment_id_cp_deployments"),
        ),
        sa.ForeignKeyConstraint(
            ["host_id"], ["cp_hosts.id"], name=op.f("fk_cp_placements_host_id_cp_hosts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cp_placements")),
    )
    op.create_index("ix_cp_placements_host", "cp_placements", ["host_id"], unique=False)
    op.create_index("ix_cp_placements_state", "cp_placements", ["state"], unique=False)
    op.create_table(
        "cp_decisions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("placement_id", sa.String(length=32), nullable=False),
        sa.Column("deployment_id", sa.String(length=32), nullable=False),
        sa.Column("host_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("verdict", sa.String(length=24), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=True),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.Column("claims", sa.Text(), nullable=True),
        sa.Column("policy_digest", sa.String(length=120), nullable=True),
        sa.Column("token", sa.Text(), nullable=True),
        sa.Column("ledger_index", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["cp_deployments.id"],
            name=op.f("fk_cp_decisions_deployment_id_cp_deployments"),
        ),
        sa.ForeignKeyConstraint(
            ["host_id"], ["cp_hosts.id"], name=op.f("fk_cp_decisions_host_id_cp_hosts")
        ),
        sa.ForeignKeyConstraint(
            ["placement_id"],
            ["cp_placements.id"],
            name=op.f("fk_cp_decisions_placement_id_cp_placements"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cp_decisions")),
    )
    op.create_index("ix_cp_decisions_deployment", "cp_decisions", ["deployment_id"], unique=False)
    op.create_table(
        "cp_nonces",
        sa.Column("value", sa.String(length=128), nullable=False),
        sa.Column("placement_id", sa.String(length=32), nullable=False),
        sa.Column("host_id", sa.String(length=32), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("consumed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["host_id"], ["cp_hosts.id"], name=op.f("fk_cp_nonces_host_id_cp_hosts")
        ),
        sa.ForeignKeyConstraint(
            ["placement_id"],
            ["cp_placements.id"],
            name=op.f("fk_cp_nonces_placement_id_cp_placements"),
        ),
        sa.PrimaryKeyConstraint("value", name=op.f("pk_cp_nonces")),
    )
    op.create_table(
        "cp_results",
        sa.Column("placement_id", sa.String(length=32), nullable=False),
        sa.Column("host_id", sa.String(length=32), nullable=False),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("stdout", sa.LargeBinary(), nullable=False),
        sa.Column("stderr", sa.LargeBinary(), nullable=False),
        sa.Column("sealed", sa.Boolean(), nullable=False),
        sa.Column("isolation", sa.Text(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["host_id"], ["cp_hosts.id"], name=op.f("fk_cp_results_host_id_cp_hosts")
        ),
        sa.ForeignKeyConstraint(
            ["placement_id"],
            ["cp_placements.id"],
            name=op.f("fk_cp_results_placement_id_cp_placements"),
        ),
        sa.PrimaryKeyConstraint("placement_id", name=op.f("pk_cp_results")),
    )


def downgrade() -> None:
    op.drop_table("cp_results")
    op.drop_table("cp_nonces")
    op.drop_table("cp_decisions")
    op.drop_table("cp_placements")
    op.drop_table("cp_deployments")
    op.drop_table("cp_workloads")
    op.drop_table("cp_secrets")
    op.drop_table("cp_policies")
    op.drop_table("cp_hosts")
    op.drop_table("cp_tenants")
    op.drop_table("cp_credentials")
    op.drop_table("cp_advisory_feeds")
