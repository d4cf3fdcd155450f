"""Re-attestation of a running keep: fresh evidence, the same keep key, appraised like the
first and compared with the last accepted (control/trust/reattest.py).

Before the transaction (CPU work): the nonce's MAC, verification, the report_data binding
(nonce, the keep key, the workload, the deployment's CURRENT policy), the policy, and the
comparison with the last accepted claims. Then ONE transaction: the nonce is spent and the
placement's state changes — renewed (attested now, next due per the policy), or evicted (back
to the queue, the host excluded, the secret not re-released), drained or warned about as the
policy's [patching] says for an ordinary refusal — with its decision row and ledger entries,
written only if the placement was still running there with that key.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from elsewhere.claims import Claims, platform_document
from elsewhere.control.broker import nonces
from elsewhere.control.broker.appraise import AttestRequest, appraise
from elsewhere.control.broker.attest import HOST_ATTESTED
from elsewhere.control.broker.context import Context, load_context
from elsewhere.control.config import ControlPlane
from elsewhere.control.store.ids import new_id
from elsewhere.control.store.tables import decisions, hosts, placements
from elsewhere.control.store.transactions import read, write
from elsewhere.control.trust import audit, reattest
from elsewhere.control.trust.policies import advisories_at
from elsewhere.control.trust.recheck import apply_verdict
from elsewhere.errors import Conflict
from elsewhere.i18n import N_
from elsewhere.policy.evaluate import RuleFailure
from elsewhere.policy.model import Action, PatchRule, Policy
from elsewhere.policy.patching import PatchDecision, action_for
from elsewhere.timeutil import iso

NOT_RUNNING = N_("placement is not running on this host (attest it first)")


def _admitted(cp: ControlPlane, placement_id: str, host_id: str) -> tuple[Any, Claims]:
    """The running placement's row and the claims it was last accepted on."""
    with read(cp.engine) as conn:
        row = conn.execute(
            select(
                placements.c.state,
                placements.c.keep_key_digest,
                placements.c.reattest_deadline,
            ).where(placements.c.id == placement_id, placements.c.host_id == host_id)
        ).first()
        claims = conn.execute(
            select(decisions.c.claims)
            .where(
                decisions.c.placement_id == placement_id,
                decisions.c.host_id == host_id,
                decisions.c.action.in_(reattest.ACCEPTING_ACTIONS),
            )
            .order_by(decisions.c.created_at.desc())
            .limit(1)
        ).scalar()
    if row is None or row.state != "released" or claims is None:
        raise Conflict(NOT_RUNNING)
    return row, Claims.from_json(json.loads(claims))


def reattest_keep(
    cp: ControlPlane, placement_id: str, host_id: str, request: AttestRequest
) -> dict[str, Any]:
    context = load_context(cp, placement_id, host_id)  # 404 for another host's placement
    row, previous = _admitted(cp, placement_id, host_id)
    seen = appraise(cp, context, advisories_at(cp.engine, context.advisory_feeds), request)
    nonce, evidence, result, now = seen.nonce, seen.evidence, seen.result, seen.at
    policy, decision, key_digest = seen.policy, seen.decision, seen.keep_key_digest
    reasons = list(decision.reasons) + reattest.changes(
        previous, result.claims, row.keep_key_digest, key_digest
    )
    deadline = row.reattest_deadline
    if deadline is not None and now > deadline:
        reasons.append(reattest.missed(deadline))
    rule = _rule(policy.policy, reasons)
    action = "renew" if rule is None else _ACTION_NAMES[rule.action]
    due, next_deadline = policy.policy.reattest_schedule(now)
    claims_json = json.dumps(result.claims.to_json(), sort_keys=True)
    entries = audit.attestation_entries(
        context=dataclasses.replace(context, secret_names=()),  # nothing is released again
        evidence=evidence,
        claims_json=claims_json,
        accepted=rule is None,
        reasons=[str(r) for r in reasons],
        tee=result.claims.tee.value,
        emulated=result.claims.emulated,
        keep_key_digest=key_digest,
    )
    with write(cp.engine) as conn:
        # Every state change first, each conditional; the ledger entries only once they
        # happened (a Conflict rolls the transaction back before any entry is appended).
        spent = conn.execute(
            nonces.SPEND,
            nonces.spent_row(nonce, placement_id, host_id),
            execution_options={"preserve_rowcount": True},  # else -1 on psycopg
        )
        if spent.rowcount != 1:
            raise Conflict(N_("nonce already used or expired (replay refused)"))
        if rule is None or rule.action is not Action.EVICT:
            values: dict[str, Any] = {"reattest_due": due, "reattest_deadline": next_deadline}
            if rule is None:
                values["attested_at"] = now
            moved = conn.execute(
                update(placements)
                .where(
                    placements.c.id == placement_id,
                    placements.c.host_id == host_id,
                    placements.c.state == "released",
                    placements.c.keep_key_digest == row.keep_key_digest,
                )
                .values(**values)
            )
            if moved.rowcount != 1:
                raise Conflict(NOT_RUNNING)
        if rule is None:
            index = audit.append(cp.ledger, conn, entries)
            _renewed(conn, context, result.claims, claims_json, index, now)
        else:
            verdict = PatchDecision(
                placement_id=placement_id,
                host_id=host_id,
                action=rule.action,
                deadline=None if rule.action is Action.KEEP else now + rule.grace,
                reasons=tuple(reasons),
                policy_digest=context.policy_digest,
                admitted_policy_digest=context.policy_digest,
            )
            keep = reattest.KeepRow(
                placement_id, host_id, context.host_name, context.deployment_id, claims_json
            )
            done = apply_verdict(cp, conn, verdict, keep, kind="reattest")
            if done is None:
                raise Conflict(NOT_RUNNING)
            audit.append(cp.ledger, conn, entries)  # the refused attestation, after its action
            index = done["ledger_index"]
    return {
        "verdict": "affirming" if action == "renew" else "contraindicated",
        "accepted": action == "renew",
        "action": action,
        "reasons": [str(r) for r in reasons],
        "protection": result.protection,
        "reattest_due": None if due is None or action == "evict" else iso(due),
        "ledger_index": index,
    }


_ACTION_NAMES = {Action.EVICT: "evict", Action.DRAIN: "drain", Action.KEEP: "warn"}


def _rule(policy: Policy, reasons: list[RuleFailure]) -> PatchRule | None:
    """None: renewed. Evidence that is not the admitted keep's, or does not verify or bind,
    evicts; any other refusal is acted on as the policy's [patching] table says."""
    if not reasons:
        return None
    if any(reattest.evicts(r) for r in reasons):
        return PatchRule(Action.EVICT)
    return action_for(policy, reasons)


def _renewed(
    conn: Connection,
    context: Context,
    claims: Claims,
    claims_json: str,
    index: int,
    now: dt.datetime,
) -> None:
    """The accepted re-attestation: the host's last attested time and platform, the
    decision row (whose claims the next re-check and re-attestation compare against)."""
    conn.execute(HOST_ATTESTED, {"h_id": context.host_id, "h_at": now})
    platform = json.dumps(platform_document(claims.to_json()), sort_keys=True)
    conn.execute(update(hosts).where(hosts.c.id == context.host_id).values(last_claims=platform))
    conn.execute(
        decisions.insert().values(
            id=new_id("dec"),
            placement_id=context.placement_id,
            deployment_id=context.deployment_id,
            host_id=context.host_id,
            kind="reattest",
            verdict="affirming",
            action="reattest",
            reasons="[]",
            claims=claims_json,
            policy_digest=context.policy_digest,
            ledger_index=index,
            created_at=now,
        )
    )
