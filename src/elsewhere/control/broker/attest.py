"""Attest and release: evidence → verify → report_data binding → policy → ledger → HPKE wrap.

The CPU work (verification, policy, token signing, wrapping) happens before the write
transaction; the state change then happens in ONE transaction: the nonce is consumed, the
placement moves (released, or back to the queue when refused), the decision row and its ledger
entries are written. Either all of it commits or none of it: a release is never made without
its ledger entry, and a nonce is never spent on a release that did not happen.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Boolean, and_, bindparam, case, literal, or_, update
from sqlalchemy.engine import Connection

from elsewhere.claims import VerificationResult, platform_document
from elsewhere.control.broker import nonces

# AttestRequest is part of this module's API (decide's request), defined with the appraisal.
from elsewhere.control.broker.appraise import AttestRequest as AttestRequest
from elsewhere.control.broker.appraise import appraise
from elsewhere.control.broker.context import (
    Context,
    attest_reads,
    load_context,
    remember_secret_names,
)
from elsewhere.control.broker.secrets import open_secrets
from elsewhere.control.config import ControlPlane
from elsewhere.control.scheduling import scheduler
from elsewhere.control.store.commit import Claim, Staged, defer
from elsewhere.control.store.ids import new_id
from elsewhere.control.store.tables import TS, decisions, hosts, placements
from elsewhere.control.trust import audit, reputation
from elsewhere.crypto.hpke import seal
from elsewhere.ear.appraisal import Appraisal, LedgerRef
from elsewhere.ear.result import build as ear_claims
from elsewhere.ear.result import logged
from elsewhere.errors import Conflict
from elsewhere.i18n import N_
from elsewhere.ledger.log import encode_entry
from elsewhere.ledger.merkle import leaf_hash
from elsewhere.timeutil import iso, utcnow
from elsewhere.wire import SECRET_INFO, secret_aad

# The state as a plain bind, not an expanding IN parameter: SQLAlchemy refuses an expanding
# parameter in an executemany, which made every batch of several releases fail its
# one-statement claim and run again one job at a time, with savepoints.
_MOVE = (
    update(placements)
    .where(
        placements.c.id == bindparam("p_id"),
        placements.c.host_id == bindparam("p_host"),
        # Assigned; or released, on the same host, when the policy sets no [reattestation]:
        # under continuous attestation a running keep re-attests (POST …/reattest, where its
        # evidence is compared with the last accepted: no TCB rollback through a new keep),
        # without it a fresh keep (e.g. after an agent restart) attests as the first did.
        or_(
            placements.c.state == literal("assigned"),
            and_(
                placements.c.state == literal("released"),
                bindparam("p_again", type_=Boolean),
            ),
        ),
    )
    .values(
        state=bindparam("p_state"),
        keep_key_digest=bindparam("p_key"),
        updated_at=bindparam("p_now"),
        # continuous attestation: when the keep was attested and must re-attest next
        attested_at=bindparam("p_attested"),
        reattest_due=bindparam("p_due"),
        reattest_deadline=bindparam("p_deadline"),
    )
)
_DECISION = decisions.insert()
# What the scheduler keeps per host (hosts.last_claims), written in SQL only when it changed:
# no process cache decides whether to write it (a cache is per worker, and a job that runs
# again after a failed batch must write again).
# The host's "last attested" time (its latest accepted attestation) in the same statement,
# written when it is older than HOST_ATTESTED_EVERY: the host's row is not rewritten by every
# release of a busy host (placements.attested_at is exact; a re-attestation writes it exactly).
# And its count of attestations in a row it could not make starts again (broker/refusals.py):
# it can attest. One statement per batch for all three (they are one row).
HOST_ATTESTED_EVERY = dt.timedelta(minutes=1)
_ACCEPTED = bindparam("h_accepted", type_=Boolean)
_HOST_CLAIMS = (
    update(hosts)
    .where(
        hosts.c.id == bindparam("h_id"),
        or_(
            hosts.c.last_claims.is_distinct_from(bindparam("h_claims")),
            and_(
                _ACCEPTED,
                or_(
                    hosts.c.last_attested.is_(None),
                    hosts.c.last_attested < bindparam("h_stale", type_=TS),
                ),
            ),
            hosts.c.attest_refusals != 0,
        ),
    )
    .values(
        last_claims=bindparam("h_claims"),
        last_attested=case((_ACCEPTED, bindparam("h_at", type_=TS)), else_=hosts.c.last_attested),
        attest_refusals=0,
        attest_refusal=None,
    )
)
HOST_ATTESTED = (
    update(hosts)
    .where(hosts.c.id == bindparam("h_id"))
    .values(last_attested=bindparam("h_at", type_=TS))
)


def issue_nonce(cp: ControlPlane, placement_id: str, host_id: str) -> dict[str, Any]:
    context = load_context(cp, placement_id, host_id)
    remember_secret_names(placement_id, context.secret_names)
    value, expires = cp.nonces.issue(placement_id, host_id, cp.config.nonce_ttl)
    return {
        "nonce": value.hex(),
        "expires_at": iso(expires),
        "workload_digest": context.workload_digest,
        "policy_digest": context.policy_digest,
    }


@dataclass(frozen=True)
class Logged:
    """What the release's commit returns: the decision entry's ledger index and the result
    token naming it (signed in the commit, once the index is assigned)."""

    index: int
    token: str


@dataclass(frozen=True)
class Release:
    """An attest request verified, decided and (if accepted) wrapped: what is left is its
    transaction (`job` after `claims`, in the group committer), whose result completes the
    answer with the ledger index and the token."""

    job: Callable[[Connection], Staged]
    claims: tuple[Claim, ...]
    answer: dict[str, Any]

    def response(self, logged: Logged) -> dict[str, Any]:
        return self.answer | {"token": logged.token, "ledger_index": logged.index}


def decide(cp: ControlPlane, placement_id: str, host_id: str, request: AttestRequest) -> Release:
    """Everything before the transaction: reads, verification, binding, nonce, policy, the
    result token and the wrapped secrets (CPU work, outside any lock)."""
    # First: another host's placement is a 404, whatever the body. The three reads do not
    # depend on each other (the release transaction checks the placement again).
    context, advisories, sealed = attest_reads(cp, placement_id, host_id)
    seen = appraise(cp, context, advisories, request)
    nonce, keep_key, evidence, result = seen.nonce, seen.keep_key, seen.evidence, seen.result
    policy, decision, now = seen.policy, seen.decision, seen.at
    reasons = [str(r) for r in decision.reasons]
    verdict = "affirming" if decision.accepted else "contraindicated"
    keep_key_digest = seen.keep_key_digest
    # The EAR result (elsewhere/ear), built here; it is signed in the commit (_transaction),
    # once the ledger index of the decision is assigned.
    appraisal = Appraisal(
        result=result,
        accepted=decision.accepted,
        failed_rules=tuple(r.rule for r in decision.reasons),
        measurements_pinned=any(
            a.section == "measurements" and a.tee is result.claims.tee
            for a in policy.policy.allow_lists
        ),
        advisories=decision.advisories,
        policy_digest=context.policy_digest,
        workload_digest="sha384:" + context.workload_digest,
        keep_key_digest=keep_key_digest,
        keep_key_suite=keep_key.suite.name,  # what the secrets are wrapped with
        nonce=nonce,
        reasons=tuple(reasons),
        placement=placement_id,
        deployment=context.deployment_id,
        host=context.host_name,
        ledger=LedgerRef(cp.ledger.origin),
    )
    result_claims = ear_claims(
        appraisal,
        issuer=cp.config.issuer,
        issued_at=int(now.timestamp()),
        expires_at=int((now + cp.config.result_token_ttl).timestamp()),
        token_id=new_id("ear"),
    )
    wrapped: dict[str, str] = {}
    if decision.accepted:
        values = open_secrets(cp.kek, sealed, list(context.secret_names))
        wrapped = {
            # The parsed key, not its bytes: no second parse of the ML-KEM key (~20 µs).
            name: base64.b64encode(
                seal(keep_key, value, info=SECRET_INFO, aad=secret_aad(placement_id, name))
            ).decode()
            for name, value in values.items()
        }
        del values

    schedule = policy.policy.reattest_schedule(now) if decision.accepted else (None, None)
    again = policy.policy.reattest_interval is None
    job, rows = _transaction(
        cp,
        context,
        result,
        evidence,
        nonce,
        keep_key_digest,
        decision.accepted,
        reasons,
        result_claims,
        (now, *schedule),
        again,
    )
    answer = {
        "verdict": verdict,
        "accepted": decision.accepted,
        "reasons": reasons,
        "protection": result.protection,
        "verification": result.to_json(),
        "secrets": wrapped,
    }
    return Release(job, rows, answer)


def _transaction(
    cp: ControlPlane,
    context: Context,
    result: VerificationResult,
    evidence: bytes,
    nonce: bytes,
    keep_key_digest: str,
    accepted: bool,
    reasons: list[str],
    result_claims: dict[str, Any],
    schedule: tuple[dt.datetime, dt.datetime | None, dt.datetime | None],
    again: bool,
) -> tuple[Callable[[Connection], Staged], tuple[Claim, ...]]:
    claims_document = result.claims.to_json()
    claims_json = json.dumps(claims_document, sort_keys=True)
    # What the scheduler keeps per host (hosts.last_claims): the same for every keep of an
    # unchanged platform, so the host's row changes only when its platform changes.
    platform_json = json.dumps(platform_document(claims_document), sort_keys=True)

    encoded = [
        encode_entry(entry)
        for entry in audit.attestation_entries(
            context=context,
            evidence=evidence,
            claims_json=claims_json,
            accepted=accepted,
            reasons=reasons,
            tee=result.claims.tee.value,
            emulated=result.claims.emulated,
            keep_key_digest=keep_key_digest,
        )
    ]
    datas, kinds = [d for d, _ in encoded], [k for _, k in encoded]
    decision_leaf = leaf_hash(datas[0]).hex()  # the decision is the job's first entry

    # Written first, for the whole batch at once (control/store/commit.py): the nonce is spent and
    # the placement moved, or the release is refused.
    claims = (
        Claim(
            nonces.SPEND,
            nonces.spent_row(nonce, context.placement_id, context.host_id),
            nonce.hex(),
            Conflict(N_("nonce already used or expired (replay refused)")),
        ),
        Claim(
            _MOVE,
            {
                "p_id": context.placement_id,
                "p_host": context.host_id,
                "p_state": "released" if accepted else "assigned",
                "p_key": keep_key_digest if accepted else None,
                "p_now": utcnow(),
                "p_attested": schedule[0] if accepted else None,
                "p_due": schedule[1],
                "p_deadline": schedule[2],
                "p_again": again,
            },
            context.placement_id,
            # A running keep's secrets are never released twice: it re-attests instead.
            Conflict(
                N_(
                    "placement is not assigned to this host any more "
                    "(a running keep re-attests: POST …/reattest)"
                )
            ),
        ),
    )

    def job(conn: Connection) -> Staged:
        if not accepted:
            scheduler.requeue(
                conn,
                context.placement_id,
                N_("refused on {host}: {reasons}").format(
                    host=context.host_name, reasons="; ".join(reasons)[:400]
                ),
            )
        defer(  # the host's reputation: refusal, TCB rollback, churn (control/reputation)
            reputation.INSERT, reputation.observation(context.host_id, result, accepted, reasons)
        )
        if result.verified:
            defer(
                _HOST_CLAIMS,
                {
                    "h_id": context.host_id,
                    "h_claims": platform_json,
                    "h_accepted": accepted,
                    "h_at": schedule[0],
                    "h_stale": schedule[0] - HOST_ATTESTED_EVERY,
                },
            )
        decision = {
            "id": new_id("dec"),
            "placement_id": context.placement_id,
            "deployment_id": context.deployment_id,
            "host_id": context.host_id,
            "kind": "attest",
            "verdict": "affirming" if accepted else "contraindicated",
            "action": "release" if accepted else "refuse",
            "reasons": json.dumps(reasons),
            "claims": claims_json,
            "policy_digest": context.policy_digest,
            "created_at": utcnow(),
        }

        def finish(conn: Connection, index: int) -> Logged:
            # Signed here, inside the transaction that assigned `index` and before its commit
            # (no second round trip: the decision row gets the token in the same batch); the
            # caller gets it only once that commit holds. The entry itself is unchanged: it
            # cannot hold the token that names its own index (docs/ledger.md).
            ref = LedgerRef(cp.ledger.origin, index, decision_leaf)
            token = cp.signer.sign(logged(result_claims, ref))
            defer(_DECISION, decision | {"ledger_index": index, "token": token})
            return Logged(index, token)

        return Staged(datas, kinds, finish)

    return job, claims
