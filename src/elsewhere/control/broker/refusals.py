"""A host that cannot attest says so: its refusal re-places the replica and is logged.

A host agent whose attester fails on an assignment (no configfs-tsm, no guest driver, a
provider that went away) reports it instead of holding the work: the placement goes back to
the queue with the reason, the host is excluded from this deployment under this policy (a
`refuse` decision), and after `attest_refusal_limit` such reports in a row it is assigned
nothing until it attests again or re-registers. The decision row, the counter, the re-queue
and the ledger entry commit in ONE transaction: no refusal is recorded without its entry.

It is not held against the host's reputation: a host that says it cannot attest sent no
evidence, good or bad.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import select, update

from elsewhere.control.broker.context import load_context
from elsewhere.control.config import ControlPlane
from elsewhere.control.scheduling import scheduler
from elsewhere.control.store.ids import new_id
from elsewhere.control.store.tables import decisions, hosts, placements
from elsewhere.control.store.transactions import write
from elsewhere.control.trust import audit
from elsewhere.errors import Conflict
from elsewhere.i18n import N_
from elsewhere.ledger.entries import AttestationDecision, digest
from elsewhere.timeutil import utcnow

NO_EVIDENCE = b""  # what the ledger entry's evidence digest is taken over: nothing was sent
# A verified attestation starts the host's count again: broker/attest.py's _HOST_CLAIMS.


class RefusalRequest(BaseModel):
    reason: str = Field(
        min_length=1,
        max_length=400,
        description="one line: why the host's attester could not produce evidence",
    )


def refuse(
    cp: ControlPlane, placement_id: str, host_id: str, request: RefusalRequest
) -> dict[str, Any]:
    """Record that this host cannot attest for this placement; re-queue it elsewhere."""
    context = load_context(cp, placement_id, host_id)  # another host's placement: 404
    reason = " ".join(request.reason.split())[:400] or "no reason given"
    now = utcnow()
    note = N_("refused on {host}: cannot attest: {reason}; re-placed").format(
        host=context.host_name, reason=reason
    )[:500]
    with write(cp.engine) as conn:
        if not scheduler.requeue(conn, placement_id, note, host_id=host_id):
            raise Conflict(N_("placement is not assigned to this host any more"))
        conn.execute(update(placements).where(placements.c.id == placement_id).values(refusal=note))
        conn.execute(
            update(hosts)
            .where(hosts.c.id == host_id)
            .values(attest_refusals=hosts.c.attest_refusals + 1, attest_refusal=reason)
        )
        row = conn.execute(
            select(hosts.c.attest_refusals, hosts.c.attester).where(hosts.c.id == host_id)
        ).one()
        reasons = [f"attester: {reason}"]
        index = audit.append(
            cp.ledger,
            conn,
            [
                AttestationDecision(
                    at=now,
                    evidence_digest=digest(NO_EVIDENCE),
                    claims_digest=digest(b"{}"),
                    policy_version=context.policy_version,
                    policy_digest=context.policy_digest,
                    verdict="refused",
                    reasons=tuple(reasons),
                    host=context.host_name,
                    tenant=context.tenant_id,
                    tee=row.attester,
                    emulated=str(row.attester).startswith("emulated"),
                )
            ],
        )
        conn.execute(
            decisions.insert().values(
                id=new_id("dec"),
                placement_id=placement_id,
                deployment_id=context.deployment_id,
                host_id=host_id,
                kind="attest",
                verdict="contraindicated",
                action="refuse",  # excludes the host from this deployment under this policy
                reasons=json.dumps(reasons),
                claims=None,
                policy_digest=context.policy_digest,
                token=None,
                ledger_index=index,
                created_at=now,
            )
        )
    limit = cp.config.attest_refusal_limit
    return {
        "placement": placement_id,
        "state": "pending",
        "note": note,
        "ledger_index": index,
        "consecutive_refusals": row.attest_refusals,
        "refusal_limit": limit,
        "assignable": row.attest_refusals < limit,
    }
