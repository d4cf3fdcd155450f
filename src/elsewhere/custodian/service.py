"""What a custodian does, one function per request; HTTP lives in custodian/app.py.

Every state change and the ledger entry recording it are written in ONE transaction: a share
is never released without its entry, a nonce never spent on a release that did not happen, ε
never spent twice for one proposal. Verification and wrapping happen before it."""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select, update

from elsewhere.commons.canon import b64, check_name, field, unb64
from elsewhere.commons.datasets import Deposit
from elsewhere.commons.proposals import Decision, Proposal, Verb, check_decision, standing
from elsewhere.commons.wire import RELEASE_INFO, SHARE_INFO, combined_nonce, release_aad, share_aad
from elsewhere.control.store.transactions import read, write
from elsewhere.crypto.binding import report_data
from elsewhere.crypto.hpke import PublicKey, seal
from elsewhere.custodian import tables as t
from elsewhere.custodian.keys import CustodianConfig
from elsewhere.errors import Conflict, InputError, NotFound, Refused
from elsewhere.evidence.api import EvidenceOptions, verify_evidence
from elsewhere.ledger.log import Ledger
from elsewhere.policy.evaluate import compile_policy
from elsewhere.timeutil import utcnow

NONCE_TTL = dt.timedelta(minutes=5)
MAX_NONCES = 16


@dataclass
class Custodian:
    config: CustodianConfig
    engine: Engine
    ledger: Ledger

    def info(self) -> dict[str, Any]:
        c = self.config
        return {
            "name": c.name,
            "commons": c.roster.commons,
            "roster_digest": c.roster.digest,
            "seal_key": b64(c.seal.public_bytes()),
            "log_key": c.log_signer.verifier.vkey(),
            "witness_key": c.witness.verifier.vkey(),
            "emulated_roots_trusted": len(c.anchors),
        }

    # -- deposits and vetoes ------------------------------------------------------------

    def deposit(self, doc: Mapping[str, Any]) -> dict[str, Any]:
        deposit = Deposit.from_json(doc)
        deposit.check(self.config.roster, self.config.name)
        entry = {
            "kind": "commons.deposit",
            "custodian": self.config.name,
            **deposit.terms(),
        }
        with write(self.engine) as conn:
            if conn.execute(
                select(t.deposits.c.owner).where(t.deposits.c.dataset_id == deposit.dataset_id)
            ).first():
                raise Conflict(f"dataset {deposit.dataset_id} is already deposited here")
            conn.execute(
                t.deposits.insert().values(
                    dataset_id=deposit.dataset_id,
                    owner=deposit.owner,
                    ciphertext_digest=deposit.ciphertext_digest,
                    epsilon_budget=deposit.epsilon_budget,
                    epsilon_spent=0.0,
                    wrapped_share=deposit.wrapped_share,
                    created_at=utcnow(),
                )
            )
            index = self.ledger.append(entry, connection=conn)
        return {"dataset_id": deposit.dataset_id, "ledger_index": index}

    def veto(self, doc: Mapping[str, Any]) -> dict[str, Any]:
        """A party's veto, sent to every custodian by the party itself: the operator cannot
        hold it back. From then on this custodian releases nothing for that proposal id."""
        proposal = Proposal.from_json(field(doc, "veto", "proposal", dict))
        decision = Decision.from_json(field(doc, "veto", "decision", dict))
        if decision.verb is not Verb.VETO:
            raise InputError("veto", "decision.verb", "must be veto")
        why = check_decision(self.config.roster, decision, proposal.digest)
        if why is not None:
            raise Refused(f"veto refused: {why}")
        entry = {
            "kind": "commons.veto",
            "custodian": self.config.name,
            "proposal_id": proposal.id,
            "proposal_digest": proposal.digest.hex(),
            "party": decision.party,
        }
        with write(self.engine) as conn:
            known = conn.execute(
                select(t.vetoes.c.party).where(
                    t.vetoes.c.proposal_id == proposal.id, t.vetoes.c.party == decision.party
                )
            ).first()
            if known:
                return {"proposal_id": proposal.id, "party": decision.party, "ledger_index": None}
            conn.execute(
                t.vetoes.insert().values(
                    proposal_id=proposal.id,
                    party=decision.party,
                    decision=json.dumps(decision.to_json()),
                    created_at=utcnow(),
                )
            )
            index = self.ledger.append(entry, connection=conn)
        return {"proposal_id": proposal.id, "party": decision.party, "ledger_index": index}

    # -- release ------------------------------------------------------------------------

    def nonce(self, proposal_id: str) -> dict[str, Any]:
        check_name("proposal id", proposal_id)
        value = os.urandom(32)
        expires = utcnow() + NONCE_TTL
        with write(self.engine) as conn:
            conn.execute(
                t.nonces.insert().values(
                    nonce=value.hex(), proposal_id=proposal_id, expires_at=expires, spent=False
                )
            )
        return {"nonce": value.hex(), "expires_at": expires.isoformat()}

    def release(self, doc: Mapping[str, Any]) -> dict[str, Any]:
        what = "release request"
        proposal = Proposal.from_json(field(doc, what, "proposal", dict))
        decisions = [Decision.from_json(d) for d in field(doc, what, "decisions", list)]
        nonces = [_hex(what, "nonces", n) for n in field(doc, what, "nonces", list)]
        if not 1 <= len(nonces) <= MAX_NONCES:
            raise InputError(what, "nonces", f"give 1..{MAX_NONCES}")
        keep_key = PublicKey.parse(
            unb64(what, "keep_public_key", field(doc, what, "keep_public_key", str))
        )
        evidence = unb64(what, "evidence", field(doc, what, "evidence", str))
        certificates = doc.get("certificates")
        cert_table = None if certificates is None else unb64(what, "certificates", certificates)
        now = utcnow()
        with read(self.engine) as conn:
            mine = _my_nonce(conn, nonces, proposal.id, now)
            rows = conn.execute(
                select(t.deposits).where(t.deposits.c.dataset_id.in_(proposal.datasets))
            ).all()
            vetoed = [
                r.party
                for r in conn.execute(
                    select(t.vetoes.c.party).where(t.vetoes.c.proposal_id == proposal.id)
                )
            ]
        owners = {r.dataset_id: r.owner for r in rows}
        stand = standing(self.config.roster, proposal, decisions, owners, now=int(time.time()))
        reasons = list(stand.refusals)
        if vetoed:
            reasons.append(f"vetoed (recorded at this custodian) by {', '.join(sorted(vetoed))}")
        for row in rows:
            if row.epsilon_spent + proposal.rule.epsilon > row.epsilon_budget + 1e-12:
                left = row.epsilon_budget - row.epsilon_spent
                reasons.append(
                    f"dataset {row.dataset_id}: ε budget left {left:.3g}, "
                    f"proposal spends {proposal.rule.epsilon:.3g}"
                )
        # The evidence: this custodian's verifier, roots and policy, not anyone else's.
        result = verify_evidence(
            evidence,
            EvidenceOptions(cert_table=cert_table, trusted_emulated_roots=self.config.anchors),
        )
        expected = report_data(
            combined_nonce(nonces),
            keep_key.encode(),
            bytes.fromhex(proposal.analysis_digest),
            proposal.digest,
        )
        verdict = compile_policy(self.config.policy).evaluate(
            result, at=now, expected_report_data=expected.hex(), keep_key_suite=keep_key.suite.name
        )
        reasons.extend(f"evidence: {r}" for r in verdict.reasons)
        keep_digest = "sha256:" + keep_key.fingerprint()
        entry: dict[str, Any] = {
            "kind": "commons.release" if not reasons else "commons.refusal",
            "custodian": self.config.name,
            "proposal_id": proposal.id,
            "proposal_digest": proposal.digest.hex(),
            "analysis_digest": "sha384:" + proposal.analysis_digest,
            "datasets": list(proposal.datasets),
            "keep_key_digest": keep_digest,
            "tee": result.claims.tee.value,
            "emulated": result.claims.emulated,
            "epsilon": proposal.rule.epsilon if not reasons else 0.0,
            "approvers": list(stand.approvers),
            "vetoed_by": sorted(set(stand.vetoed_by) | set(vetoed)),
            "reasons": reasons[:20],
        }
        wrapped: dict[str, str] = {}
        if not reasons:
            for row in rows:
                share = self.config.seal.open(
                    row.wrapped_share,
                    info=SHARE_INFO,
                    aad=share_aad(row.dataset_id, self.config.name),
                )
                wrapped[row.dataset_id] = b64(
                    seal(
                        keep_key,
                        share,
                        info=RELEASE_INFO,
                        aad=release_aad(proposal.digest, row.dataset_id, self.config.name),
                    )
                )
        index = self._commit_release(proposal, mine, entry, keep_digest, accepted=not reasons)
        if reasons:
            raise Refused("release refused: " + "; ".join(reasons))
        return {
            "custodian": self.config.name,
            "shares": wrapped,
            "ledger_index": index,
            "protection": result.protection,
        }

    def _commit_release(
        self,
        proposal: Proposal,
        nonce: str,
        entry: dict[str, Any],
        keep_digest: str,
        *,
        accepted: bool,
    ) -> int:
        with write(self.engine) as conn:
            spent = conn.execute(
                update(t.nonces)
                .where(t.nonces.c.nonce == nonce, t.nonces.c.spent.is_(False))
                .values(spent=True)
            )
            if spent.rowcount != 1:
                raise Conflict("nonce already used (replay refused)")
            if accepted:
                if conn.execute(
                    select(t.releases.c.dataset_id).where(t.releases.c.proposal_id == proposal.id)
                ).first():
                    raise Conflict(f"proposal {proposal.id} already ran (one release per proposal)")
                index = self.ledger.append(entry, connection=conn)
                for dataset in proposal.datasets:
                    conn.execute(
                        update(t.deposits)
                        .where(t.deposits.c.dataset_id == dataset)
                        .values(epsilon_spent=t.deposits.c.epsilon_spent + proposal.rule.epsilon)
                    )
                    conn.execute(
                        t.releases.insert().values(
                            proposal_id=proposal.id,
                            dataset_id=dataset,
                            keep_key_digest=keep_digest,
                            epsilon=proposal.rule.epsilon,
                            ledger_index=index,
                            created_at=utcnow(),
                        )
                    )
            else:
                index = self.ledger.append(entry, connection=conn)
        return index

    def output(self, doc: Mapping[str, Any]) -> dict[str, Any]:
        """The digest of a run's sealed results, as the keep reports it; only for a proposal
        this custodian released to, once."""
        proposal_id = check_name("proposal id", field(doc, "output", "proposal_id", str))
        digest = field(doc, "output", "result_digest", str)
        if len(digest) != 71 or not digest.startswith("sha256:"):
            raise InputError("output", "result_digest", "must be sha256:<64 hex>")
        with write(self.engine) as conn:
            if not conn.execute(
                select(t.releases.c.dataset_id).where(t.releases.c.proposal_id == proposal_id)
            ).first():
                raise NotFound(f"no release for proposal {proposal_id} here")
            index = self.ledger.append(
                {
                    "kind": "commons.output",
                    "custodian": self.config.name,
                    "proposal_id": proposal_id,
                    "result_digest": digest,
                    "suppressed": field(doc, "output", "suppressed", int),
                },
                connection=conn,
            )
        return {"ledger_index": index}

    def budgets(self) -> list[dict[str, Any]]:
        with read(self.engine) as conn:
            rows = conn.execute(select(t.deposits).order_by(t.deposits.c.dataset_id)).all()
        return [
            {
                "dataset_id": r.dataset_id,
                "owner": r.owner,
                "epsilon_budget": r.epsilon_budget,
                "epsilon_spent": r.epsilon_spent,
            }
            for r in rows
        ]


def _hex(what: str, name: str, value: object) -> bytes:
    try:
        data = bytes.fromhex(value) if isinstance(value, str) else b""
    except ValueError:
        data = b""
    if not 16 <= len(data) <= 64:
        raise InputError(what, name, "each must be 16-64 bytes of hex")
    return data


def _my_nonce(conn: Any, nonces: list[bytes], proposal_id: str, now: dt.datetime) -> str:
    """The nonce of this custodian among those the keep bound (exactly one must be ours)."""
    hexes = [n.hex() for n in nonces]
    rows = conn.execute(select(t.nonces).where(t.nonces.c.nonce.in_(hexes))).all()
    if not rows:
        raise Conflict("none of the nonces was issued by this custodian")
    row = rows[0]
    if row.proposal_id != proposal_id:
        raise Conflict(f"nonce was issued for proposal {row.proposal_id}, not {proposal_id}")
    if row.spent:
        raise Conflict("nonce already used (replay refused)")
    expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=dt.UTC)
    if expires <= now:
        raise Conflict("nonce expired")
    return str(row.nonce)
