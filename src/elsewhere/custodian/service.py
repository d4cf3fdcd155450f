"""What a custodian does, one function per request; HTTP lives in custodian/app.py.

Every state change and the ledger entry recording it are written in ONE transaction: a share
is never released without its entry, a nonce never spent on a release that did not happen, ε
never spent twice for one proposal. Verification and wrapping happen before it."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Engine, select, update

from elsewhere.commons.canon import b64, check_name, field, unb64
from elsewhere.commons.datasets import Deposit
from elsewhere.commons.proposals import Decision, Proposal, standing
from elsewhere.commons.wire import (
    RELEASE_INFO,
    SHARE_INFO,
    combined_nonce,
    keep_keys,
    output_message,
    release_aad,
    share_aad,
)
from elsewhere.control.store.transactions import read, write
from elsewhere.crypto.binding import report_data
from elsewhere.crypto.hpke import PublicKey, seal
from elsewhere.custodian import tables as t
from elsewhere.custodian.keys import CustodianConfig
from elsewhere.custodian.peers import Forwarder, Peers, answer_query
from elsewhere.custodian.vetoes import forwarded_from, parse_veto, record_veto
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
    peers: Peers
    forwarder: Forwarder | None = None

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
        """A party's veto, sent by the party to any custodian: recorded here, then forwarded
        by this custodian to every peer. From then on this custodian releases nothing for
        that proposal id, nor does any peer that has it or hears of it (docs/commons.md)."""
        return self._record(*parse_veto(doc), via=None)

    def forwarded_veto(self, doc: Mapping[str, Any]) -> dict[str, Any]:
        """A peer carrying a party's veto: checked here as if the party had sent it."""
        via = forwarded_from(self.config.roster, self.config.name, doc)
        return self._record(*parse_veto(field(doc, "forwarded veto", "veto", dict)), via=via)

    def _record(self, proposal: Proposal, decision: Decision, *, via: str | None) -> dict[str, Any]:
        c = self.config
        index = record_veto(c.name, c.roster, self.engine, self.ledger, proposal, decision, via=via)
        if index is not None and self.forwarder is not None:
            self.forwarder.wake()
        return {"proposal_id": proposal.id, "party": decision.party, "ledger_index": index}

    def veto_query(self, doc: Mapping[str, Any]) -> dict[str, Any]:
        """A peer asks, before releasing, which vetoes this custodian holds for a proposal."""
        proposal = Proposal.from_json(field(doc, "veto query", "proposal", dict))
        challenge = _hex("veto query", "challenge", field(doc, "veto query", "challenge", str))
        c = self.config
        return answer_query(self.engine, c.name, c.log_signer, proposal, challenge)

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
        sign_key = unb64(what, "keep_sign_key", field(doc, what, "keep_sign_key", str))
        if len(sign_key) != 32:
            raise InputError(what, "keep_sign_key", "must be a 32-byte Ed25519 key")
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
        reasons.extend(self._peer_reasons(proposal, already=set(vetoed)))
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
            keep_keys(keep_key.encode(), sign_key),
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
            "keep_sign_key": b64(sign_key),
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
        run = (sign_key, combined_nonce(nonces))
        index = self._commit_release(proposal, mine, entry, keep_digest, run, accepted=not reasons)
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
        run: tuple[bytes, bytes],
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
                conn.execute(
                    t.runs.insert().values(
                        proposal_id=proposal.id,
                        proposal_digest=proposal.digest,
                        keep_sign_key=run[0],
                        nonces_digest=run[1],
                        output_index=None,
                    )
                )
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

    def _peer_reasons(self, proposal: Proposal, already: set[str]) -> list[str]:
        """Ask every peer for its vetoes (signed, fresh answers); a veto learned this way is
        recorded here too (and forwarded on). Too few answers is a refusal: the veto of a
        party that reached only an unheard peer could be missed (docs/commons.md)."""
        check = self.peers.ask(proposal)
        reasons = []
        learned: dict[str, str] = {}
        for peer, decision in check.vetoes:
            learned.setdefault(decision.party, peer)
            if decision.party not in already:
                self._record(proposal, decision, via=peer)
        if learned:
            held = ", ".join(f"{p} (at {learned[p]})" for p in sorted(learned))
            reasons.append(f"vetoed (recorded at a peer) by {held}")
        needed = self.config.roster.peers_to_hear
        if len(check.heard) < needed:
            reasons.append(
                f"veto check: heard from {len(check.heard)} of the {needed} peers needed"
                + (f" ({'; '.join(check.unheard)})" if check.unheard else "")
            )
        return reasons

    def output(self, doc: Mapping[str, Any]) -> dict[str, Any]:
        """The digest of a run's sealed results, as the keep reports it: signed by the keep
        key this custodian verified in the evidence it released to (that proposal, those
        nonces), recorded once. Anything else is refused and not logged."""
        what = "output"
        proposal_id = check_name("proposal id", field(doc, what, "proposal_id", str))
        digest = field(doc, what, "result_digest", str)
        if len(digest) != 71 or not digest.startswith("sha256:"):
            raise InputError(what, "result_digest", "must be sha256:<64 hex>")
        suppressed = field(doc, what, "suppressed", int)
        signature = unb64(what, "signature", field(doc, what, "signature", str))
        with write(self.engine) as conn:
            run = conn.execute(select(t.runs).where(t.runs.c.proposal_id == proposal_id)).first()
            if run is None:
                raise NotFound(f"no release for proposal {proposal_id} here")
            message = output_message(run.proposal_digest, run.nonces_digest, digest, suppressed)
            try:
                Ed25519PublicKey.from_public_bytes(run.keep_sign_key).verify(signature, message)
            except InvalidSignature:
                raise Refused(
                    f"output report for {proposal_id} refused: not signed by the keep this "
                    "custodian released to (its attested key, that proposal and nonces)"
                ) from None
            if run.output_index is not None:
                raise Conflict(
                    f"output of {proposal_id} already recorded (entry {run.output_index})"
                )
            index = self.ledger.append(
                {
                    "kind": "commons.output",
                    "custodian": self.config.name,
                    "proposal_id": proposal_id,
                    "result_digest": digest,
                    "suppressed": suppressed,
                    "keep_signature": b64(signature),
                },
                connection=conn,
            )
            conn.execute(
                update(t.runs).where(t.runs.c.proposal_id == proposal_id).values(output_index=index)
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
