"""The vault's tables (Alembic branch `vault`, elsewhere.vault.migrations).

vault_subjects    one row per subject: keyed hash (never the id), state, the data key wrapped
                  by the KEK (NULL once erased), hold, date of birth (for age rules; NULL once
                  erased), last use, erasure times and the erasure's ledger index.
vault_records     AES-256-GCM records under the subject's data key; deleted at erasure.
vault_purposes    (subject, purpose) pairs, for purpose checks and per-purpose retention.
vault_grants      the purposes a deployment declared it needs.
vault_rules       retention rules per purpose or per subject.
vault_approvals   operators approving an early erasure (k distinct ones skip the grace).
vault_epochs      backup epoch keys, wrapped by the KEK; deleting a row shreds its backups.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    Integer,
    LargeBinary,
    String,
    Table,
)

from elsewhere.control.store.tables import TS  # aware UTC in and out, SQLite too
from elsewhere.db.base import metadata

HASH = String(64)

vault_subjects = Table(
    "vault_subjects",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("subject_hash", HASH, primary_key=True),
    Column("state", String(16), nullable=False),
    Column("kek_id", String(32), nullable=True),
    Column("wrapped_key", LargeBinary, nullable=True),
    Column("hold", Boolean, nullable=False, default=False),
    Column("born_on", Date, nullable=True, index=True),
    Column("created_at", TS, nullable=False),
    Column("last_used_at", TS, nullable=False, index=True),
    Column("erase_after", TS, nullable=True),
    Column("erased_at", TS, nullable=True),
    Column("erased_index", BigInteger, nullable=True),
)

vault_records = Table(
    "vault_records",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("subject_hash", HASH, nullable=False, index=True),
    Column("purposes", String(1200), nullable=False),  # JSON list
    Column("size", Integer, nullable=False),
    Column("ciphertext", LargeBinary, nullable=False),
    Column("created_at", TS, nullable=False),
)

vault_purposes = Table(
    "vault_purposes",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("subject_hash", HASH, primary_key=True),
    Column("purpose", String(64), primary_key=True, index=True),
)

vault_grants = Table(
    "vault_grants",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("deployment_id", String(64), primary_key=True),
    Column("purpose", String(64), primary_key=True),
)

vault_rules = Table(
    "vault_rules",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("tenant_id", String(64), nullable=False, index=True),
    Column("scope", String(16), nullable=False),
    Column("target", String(64), nullable=False),
    Column("rule", String(32), nullable=False),
    Column("created_at", TS, nullable=False),
)

vault_approvals = Table(
    "vault_approvals",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("subject_hash", HASH, primary_key=True),
    Column("operator", String(64), primary_key=True),
    Column("created_at", TS, nullable=False),
)

vault_epochs = Table(
    "vault_epochs",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("kek_id", String(32), nullable=False),
    Column("wrapped_key", LargeBinary, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("expires_at", TS, nullable=False),
)
