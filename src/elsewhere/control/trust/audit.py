"""The control plane's ledger entries, appended inside the caller's transaction."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.engine import Connection

from elsewhere.evidence.canonical import canonical_evidence
from elsewhere.ledger.entries import (
    AdvisoryImport,
    AttestationDecision,
    Eviction,
    HostWarning,
    LedgerEntry,
    PolicyVersion,
    SecretRelease,
    TenantWithdrawal,
    digest,
)
from elsewhere.ledger.log import Ledger
from elsewhere.timeutil import utcnow

if TYPE_CHECKING:
    from elsewhere.control.broker.context import Context


def append(ledger: Ledger, conn: Connection, entries: list[LedgerEntry]) -> int:
    """Append entries in one batch (one lock, one tree extension) inside `conn`'s transaction;
    returns the index of the first."""
    return ledger.append_many(entries, connection=conn)[0]


def attestation_entries(
    *,
    context: Context,
    evidence: bytes,
    claims_json: str,
    accepted: bool,
    reasons: list[str],
    tee: str,
    emulated: bool,
    keep_key_digest: str,
) -> list[LedgerEntry]:
    """The decision and, when accepted, one release entry per secret (appended by the
    group committer in the release's transaction)."""
    now = utcnow()
    # Over the canonical form: a report and its n - s twin (or hex text) are one evidence.
    evidence_digest = digest(canonical_evidence(evidence))
    entries: list[LedgerEntry] = [
        AttestationDecision(
            at=now,
            evidence_digest=evidence_digest,
            claims_digest=digest(claims_json.encode()),
            policy_version=context.policy_version,
            policy_digest=context.policy_digest,
            verdict="accepted" if accepted else "refused",
            reasons=tuple(reasons),
            host=context.host_name,
            tenant=context.tenant_id,
            tee=tee,
            emulated=emulated,
        )
    ]
    if accepted:
        entries.extend(
            SecretRelease(
                at=now,
                secret_id=f"{context.tenant_id}/{name}",
                keep_key_digest=keep_key_digest,
                evidence_digest=evidence_digest,
                policy_digest=context.policy_digest,
                tenant=context.tenant_id,
                workload_digest="sha384:" + context.workload_digest,
            )
            for name in context.secret_names
        )
    return entries


def record_policy(
    ledger: Ledger,
    conn: Connection,
    tenant_id: str,
    version: int,
    digest: str,
    previous: str | None,
) -> int:
    entry = PolicyVersion(
        at=utcnow(),
        tenant=tenant_id,
        version=version,
        policy_digest=digest,
        previous_digest=previous,
    )
    return append(ledger, conn, [entry])


def record_advisories(
    ledger: Ledger, conn: Connection, source: str, body: bytes, ids: list[str]
) -> int:
    entry = AdvisoryImport(
        at=utcnow(), source=source, feed_digest=digest(body), advisory_ids=tuple(ids)
    )
    return append(ledger, conn, [entry])


def record_eviction(
    ledger: Ledger,
    conn: Connection,
    host: str,
    action: str,
    reason: str,
    workloads: list[str],
    advisory_ids: list[str],
) -> int:
    entry = Eviction(
        at=utcnow(),
        host=host,
        action=action,  # type: ignore[arg-type]
        reason=reason,
        workloads=tuple(workloads),
        advisory_ids=tuple(advisory_ids),
    )
    return append(ledger, conn, [entry])


def record_warning(
    ledger: Ledger,
    conn: Connection,
    host: str,
    reason: str,
    workloads: list[str],
    advisory_ids: list[str],
) -> int:
    """A keep left running on a host the policy now refuses ([patching] says "keep")."""
    entry = HostWarning(
        at=utcnow(),
        host=host,
        reason=reason,
        workloads=tuple(workloads),
        advisory_ids=tuple(advisory_ids),
    )
    return append(ledger, conn, [entry])


def record_withdrawal(
    ledger: Ledger,
    conn: Connection,
    tenant_id: str,
    action: str,
    subject: str,
    *,
    deployments: tuple[str, ...] = (),
    placements: tuple[str, ...] = (),
) -> int:
    """A tenant's stop or delete, in the transaction that made it (only when it changed)."""
    entry = TenantWithdrawal(
        at=utcnow(),
        tenant=tenant_id,
        action=action,  # type: ignore[arg-type]
        subject=subject,
        workloads=deployments,
        placements=placements,
    )
    return append(ledger, conn, [entry])
