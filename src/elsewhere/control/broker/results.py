"""Results of keeps: output (sealed to the tenant's key when the deployment asked for it),
exit status and the keep's isolation report, stored with the placement.

The host is not trusted, so it does not describe what protects the workload: the isolation
report is computed here from what the control plane verified (the accepted attestation's
claims) and what it assigned (limits, secret names, arguments, the host's attester kind).
Whatever the host sends is kept apart, labelled host-reported. A completed keep adds to the
host's reputation, weighted by the deployment's impact."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field, field_validator
from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from elsewhere.claims import Claims, VerificationResult
from elsewhere.control.store.ids import from_b64
from elsewhere.control.store.tables import (
    decisions,
    deployments,
    hosts,
    placements,
    results,
    workloads,
)
from elsewhere.control.trust import reputation
from elsewhere.errors import Conflict, InputError, NotFound
from elsewhere.i18n import N_
from elsewhere.keep.config import KeepConfig
from elsewhere.keep.isolation import isolation_report
from elsewhere.keep.limits import KeepLimits
from elsewhere.risk.quantities import Money
from elsewhere.risk.reputation import EventKind
from elsewhere.timeutil import utcnow

MAX_OUTPUT = 4 << 20
# The host's own isolation report is a small, flat-ish document (tens of keys, a few KiB); a
# deeper or larger one is refused at the edge, because every reader (the deployment view,
# the CLI) walks it recursively and a 300-deep one broke the tenant's view for good (#21, 4).
MAX_HOST_DEPTH = 8
MAX_HOST_KEYS = 512
MAX_HOST_BYTES = 16 << 10


EVIDENCE_KIND = {"sev-snp": "sev-snp-report", "tdx": "tdx-dcap-quote", "sgx": "sgx-dcap-quote"}


class ResultRequest(BaseModel):
    exit_code: int | None = None
    error: str | None = Field(None, max_length=2000)
    stdout: str = Field("", description="base64 (sealed to the tenant's key when requested)")
    stderr: str = Field("", description="base64")
    sealed: bool = False
    isolation: dict[str, Any] = Field(
        description="the keep's isolation report as the host sees it (stored as host-reported; "
        "the control plane computes the report it shows)"
    )
    duration_ms: int | None = Field(None, ge=0)

    @field_validator("isolation")
    @classmethod
    def _bounded(cls, value: dict[str, Any]) -> dict[str, Any]:
        problem = host_document_problem(value)
        if problem:
            raise ValueError(problem)
        return value


def host_document_problem(document: Any) -> str | None:
    """Why a host-reported document is refused (too deep, too many keys, too large), or None.
    Walked without recursion, so the check itself has no depth limit to hit."""
    stack: list[tuple[Any, int]] = [(document, 1)]
    keys = 0
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth > MAX_HOST_DEPTH:
                return f"nested deeper than {MAX_HOST_DEPTH} levels"
            children = list(node.values()) if isinstance(node, dict) else node
            keys += len(children)
            if keys > MAX_HOST_KEYS:
                return f"more than {MAX_HOST_KEYS} keys and items"
            stack.extend((child, depth + 1) for child in children)
    if len(json.dumps(document)) > MAX_HOST_BYTES:
        return f"larger than {MAX_HOST_BYTES} bytes as JSON"
    return None


def isolation(conn: Connection, placement_id: str, row: Any) -> dict[str, Any]:
    """The report from the control plane's own records: the deployment's spec, the workload
    digest, the host's attester kind and the claims of the attestation it accepted."""
    spec = json.loads(row.spec)
    config = KeepConfig(
        workload_digest=bytes.fromhex(row.digest),
        args=tuple(spec.get("args") or ()),
        env=dict(spec.get("env") or {}),
        limits=KeepLimits.from_json(spec.get("limits") or {}),
        secret_names=tuple(sorted(spec.get("secrets") or ())),
        attester_kind=row.attester,
    )
    accepted = conn.execute(
        select(decisions.c.claims, decisions.c.created_at)
        .where(
            decisions.c.placement_id == placement_id,
            decisions.c.kind == "attest",
            decisions.c.action == "release",
        )
        .order_by(decisions.c.created_at.desc())
    ).first()
    verification = None
    if accepted is not None and accepted.claims:
        claims = Claims.from_json(json.loads(accepted.claims))
        kind = EVIDENCE_KIND.get(claims.tee.value, "none")
        verification = VerificationResult(claims, (), accepted.created_at, kind)
    # The broker checked report_data against this keep's binding before it released.
    binding = bytes.fromhex(verification.claims.report_data) if verification else None
    report = isolation_report(config, verification, report_data=binding).to_json()
    report["computed_by"] = "control plane"
    if row.keep_key_digest:
        report["keep_key_digest"] = row.keep_key_digest
    return report


def store_result(
    conn: Connection,
    placement_id: str,
    host_id: str,
    request: ResultRequest,
    default_impact: Money | None = None,
) -> None:
    """Record a released keep's result. NotFound: not this host's placement; Conflict: not a
    released keep (nothing to report, or reported already)."""
    row = conn.execute(
        select(
            placements.c.state,
            placements.c.host_id,
            placements.c.keep_key_digest,
            deployments.c.result_key,
            deployments.c.spec,
            deployments.c.impact,
            workloads.c.digest,
            hosts.c.attester,
        )
        .join(deployments, deployments.c.id == placements.c.deployment_id)
        .join(workloads, workloads.c.id == deployments.c.workload_id)
        .outerjoin(hosts, hosts.c.id == placements.c.host_id)
        .where(placements.c.id == placement_id)
    ).first()
    if row is None or row.host_id != host_id:
        raise NotFound("placement")
    if row.state != "released":
        raise Conflict(
            N_("placement is {state}: only a released keep reports a result").format(
                state=row.state
            )
        )
    if row.result_key is not None and not request.sealed:
        raise InputError("result", "sealed", N_("this deployment's results must be sealed"))
    stdout = from_b64("result stdout", request.stdout, MAX_OUTPUT)
    stderr = from_b64("result stderr", request.stderr, MAX_OUTPUT)
    conn.execute(
        results.insert().values(
            placement_id=placement_id,
            host_id=host_id,
            exit_code=request.exit_code,
            error=request.error,
            stdout=stdout,
            stderr=stderr,
            sealed=request.sealed,
            isolation=json.dumps(isolation(conn, placement_id, row), sort_keys=True),
            host_isolation=json.dumps(request.isolation, sort_keys=True),
            duration_ms=request.duration_ms,
            created_at=utcnow(),
        )
    )
    failed = request.error is not None
    conn.execute(
        update(placements)
        .where(placements.c.id == placement_id)
        .values(state="failed" if failed else "completed", updated_at=utcnow())
    )
    impact = json.loads(row.impact) if row.impact else None
    value = Money(Decimal(impact["amount"]), impact["currency"]) if impact else default_impact
    if not failed and value is not None:  # a keep the workload failed is not held against it
        reputation.record(
            conn, host_id, EventKind.KEEP_COMPLETED, value=value, placement_id=placement_id
        )
