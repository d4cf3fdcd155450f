"""Control-plane tables, on the shared `elsewhere.db.metadata` (transactions: transactions.py).

Blobs that are secret (secrets, data keys) are only ever stored encrypted
(control/broker/secrets.py).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)

from elsewhere.db import metadata


class UtcDateTime(TypeDecorator[dt.datetime]):
    """Aware UTC datetimes in and out (SQLite stores them naive; PostgreSQL as timestamptz)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        return None if value is None else value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


TS = UtcDateTime()

tenants = Table(
    "cp_tenants",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("created_at", TS, nullable=False),
    Column("risk_budget", Text),  # JSON money rate; None: the control plane's default
)

# API credentials of every kind: tenant, host (registration + agent) and operator tokens.
credentials = Table(
    "cp_credentials",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("subject", String(32)),  # tenant id for tenant tokens, host id once registered
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("revoked_at", TS),
)

hosts = Table(
    "cp_hosts",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("credential_id", String(32), ForeignKey("cp_credentials.id"), unique=True),
    Column("name", String(200), nullable=False),
    Column("attester", String(32), nullable=False),
    Column("capacity", Integer, nullable=False),
    Column("state", String(16), nullable=False),  # active | lost
    Column("registered_at", TS, nullable=False),
    Column("last_seen", TS, nullable=False),
    Column("last_claims", Text),  # JSON claims of its last verified evidence
    # Attestations in a row the host reported it could not make, and the last one's reason:
    # at the configured limit it is assigned nothing (broker/refusals.py).
    Column("attest_refusals", Integer, nullable=False, server_default="0"),
    Column("attest_refusal", Text),
    Column("last_attested", TS),  # its last accepted attestation or re-attestation
)

workloads = Table(
    "cp_workloads",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant_id", String(32), ForeignKey("cp_tenants.id"), nullable=False),
    Column("digest", String(96), nullable=False),  # SHA-384, hex
    Column("name", String(200), nullable=False),
    Column("size", Integer, nullable=False),
    Column("wasm", LargeBinary, nullable=False),
    Column("created_at", TS, nullable=False),
    # Set by `DELETE /v1/workloads/…`: the module's bytes are erased, the row stays so that
    # past deployments still name their workload; uploading the same bytes restores it.
    Column("deleted_at", TS),
    UniqueConstraint("tenant_id", "digest", name="uq_cp_workloads_tenant_digest"),
)

secrets = Table(
    "cp_secrets",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant_id", String(32), ForeignKey("cp_tenants.id"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("kek_id", String(16), nullable=False),
    Column("wrapped_key", LargeBinary, nullable=False),  # nonce ‖ AES-GCM(KEK, data key)
    Column("ciphertext", LargeBinary, nullable=False),  # nonce ‖ AES-GCM(data key, value)
    Column("created_at", TS, nullable=False),
    UniqueConstraint("tenant_id", "name", name="uq_cp_secrets_tenant_name"),
)

policies = Table(
    "cp_policies",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant_id", String(32), ForeignKey("cp_tenants.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("digest", String(120), nullable=False),  # "sha384:" + hex
    Column("document", Text, nullable=False),
    Column("created_at", TS, nullable=False),
    UniqueConstraint("tenant_id", "version", name="uq_cp_policies_tenant_version"),
)

deployments = Table(
    "cp_deployments",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant_id", String(32), ForeignKey("cp_tenants.id"), nullable=False),
    Column("workload_id", String(32), ForeignKey("cp_workloads.id"), nullable=False),
    Column("policy_id", String(32), ForeignKey("cp_policies.id"), nullable=False),
    Column("replicas", Integer, nullable=False),
    Column("spec", Text, nullable=False),  # JSON: args, env, stdin, secret names, limits
    Column("result_key", LargeBinary),  # tenant's HPKE public key: results sealed to it
    # active | stopped as stored; completed / failed are derived from the placements
    # (tenancy/deployments.py `deployment_state`), so no writer has to remember them
    Column("state", String(16), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("impact", Text),  # JSON money: what compromise would cost; None: the default
)

# A placement that still has work ahead of it, and one whose work is over.
UNFINISHED_STATES = ("pending", "assigned", "released")
ENDED_STATES = ("completed", "failed", "stopped")

placements = Table(
    "cp_placements",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("deployment_id", String(32), ForeignKey("cp_deployments.id"), nullable=False),
    Column("replica", Integer, nullable=False),
    Column("host_id", String(32), ForeignKey("cp_hosts.id")),
    # pending → assigned → released → completed | failed; evicted, stopped
    Column("state", String(16), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("note", Text),
    Column("keep_key_digest", String(96)),
    Column("drain_deadline", TS),  # set when a re-check drains the keep's host
    Column("risk", Text),  # JSON risk decision (elsewhere.risk.placement/1) of the last round
    Column("refusal", Text),  # the last refusal this replica met, kept when it is re-placed
    # Continuous attestation (control/broker/reattest.py): the keep's last accepted evidence,
    # when it must re-attest next (the policy's interval, or now when a re-check asks), and
    # when it is evicted if it has not (due + the policy's grace).
    Column("attested_at", TS),
    Column("reattest_due", TS),
    Column("reattest_deadline", TS),
    Column("updated_at", TS, nullable=False),
    Index("ix_cp_placements_state", "state"),
    Index("ix_cp_placements_host", "host_id"),
)

nonces = Table(
    "cp_nonces",
    metadata,
    Column("value", String(128), primary_key=True),
    Column("placement_id", String(32), ForeignKey("cp_placements.id"), nullable=False),
    Column("host_id", String(32), ForeignKey("cp_hosts.id"), nullable=False),
    Column("expires_at", TS, nullable=False),
    Column("consumed_at", TS),
)

# One row per attestation decision (affirming or contraindicated) and per re-check action.
decisions = Table(
    "cp_decisions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("placement_id", String(32), ForeignKey("cp_placements.id"), nullable=False),
    Column("deployment_id", String(32), ForeignKey("cp_deployments.id"), nullable=False),
    Column("host_id", String(32), ForeignKey("cp_hosts.id"), nullable=False),
    Column("kind", String(16), nullable=False),  # attest | recheck | schedule
    Column("verdict", String(24), nullable=False),
    Column("action", String(16)),  # release, refuse, evict, drain, warn, skip
    Column("reasons", Text, nullable=False),  # JSON list of one-line reasons
    Column("claims", Text),  # JSON claims the decision was made on
    Column("policy_digest", String(120)),
    Column("token", Text),  # the attestation-result token (JWS) for attest decisions
    Column("ledger_index", Integer),
    Column("created_at", TS, nullable=False),
    Index("ix_cp_decisions_deployment", "deployment_id"),
)

results = Table(
    "cp_results",
    metadata,
    Column("placement_id", String(32), ForeignKey("cp_placements.id"), primary_key=True),
    Column("host_id", String(32), ForeignKey("cp_hosts.id"), nullable=False),
    Column("exit_code", Integer),
    Column("error", Text),
    Column("stdout", LargeBinary, nullable=False),
    Column("stderr", LargeBinary, nullable=False),
    Column("sealed", Boolean, nullable=False),
    Column("isolation", Text, nullable=False),  # JSON isolation report, by the control plane
    Column("host_isolation", Text),  # JSON report the host sent: host-reported, not trusted
    Column("duration_ms", Integer),
    Column("created_at", TS, nullable=False),
)

# Advisory feeds imported by the operator, kept verbatim; the current set is their merge.
advisory_feeds = Table(
    "cp_advisory_feeds",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("source", String(200), nullable=False),
    Column("body", Text, nullable=False),
    Column("imported_at", TS, nullable=False),
)

# Reputation log, append-only: one row per event (or attestation observation, or operator
# release), keyed by reputation key; the in-memory ReputationBook is a fold of it in id order.
reputation_events = Table(
    "cp_reputation_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(200), nullable=False),  # chip:<chip id> | host:<host id>
    Column("host_id", String(32), nullable=False),
    Column("kind", String(32), nullable=False),  # an EventKind, attestation or release
    Column("at", TS, nullable=False),
    Column("amount", String(40)),  # value of a completed keep
    Column("currency", String(8)),
    Column("placement_id", String(32)),
    Column("detail", Text),  # JSON: attestation tcb / measurements / accepted, or a note
    Index("ix_cp_reputation_events_key", "key"),
)

# Web console sessions (control/http/console): the cookie holds 256 random bits; only their
# SHA-256 is stored, as with tokens. A session acts as the credential it was opened with.
console_sessions = Table(
    "cp_console_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("credential_id", String(32), ForeignKey("cp_credentials.id"), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("expires_at", TS, nullable=False),
)


# Leases (control/scheduling/leases.py): who runs each once-per-cluster duty until when, in
# seconds since the epoch on the DATABASE's clock (one clock for every replica).
leases = Table(
    "cp_leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(128), nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("taken_at", Float, nullable=False),  # when this holder took it (not renewals)
)

CONTROL_TABLES = (
    leases,
    tenants,
    credentials,
    hosts,
    workloads,
    secrets,
    policies,
    deployments,
    placements,
    nonces,
    decisions,
    results,
    advisory_feeds,
    reputation_events,
    console_sessions,
)
