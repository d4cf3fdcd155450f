"""Recording a party's veto at a custodian, and queuing it for every peer.

A veto is the party's own signed document ({"proposal", "decision"}); whoever carries it —
the party, a peer forwarding it, a peer's answer to a query — this custodian checks the
party's signature against its own roster before recording it. The record, its ledger entry
and one forwarding row per peer are one transaction, so a recorded veto is always queued."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine, select

from elsewhere.commons.canon import check_name, field
from elsewhere.commons.proposals import Decision, Proposal, Verb, check_decision
from elsewhere.commons.roster import Roster
from elsewhere.control.store.transactions import write
from elsewhere.custodian import tables as t
from elsewhere.errors import InputError, Refused
from elsewhere.ledger.log import Ledger
from elsewhere.timeutil import utcnow


def parse_veto(doc: Mapping[str, Any], what: str = "veto") -> tuple[Proposal, Decision]:
    proposal = Proposal.from_json(field(doc, what, "proposal", dict))
    decision = Decision.from_json(field(doc, what, "decision", dict))
    if decision.verb is not Verb.VETO:
        raise InputError(what, "decision.verb", "must be veto")
    return proposal, decision


def record_veto(
    name: str,
    roster: Roster,
    engine: Engine,
    ledger: Ledger,
    proposal: Proposal,
    decision: Decision,
    *,
    via: str | None = None,
) -> int | None:
    """Record and queue the veto; its ledger index, or None when it was already recorded.
    `via`: the peer it came through (None: the party itself), named in the refusal and the
    log entry only."""
    why = check_decision(roster, decision, proposal.digest)
    if why is not None:
        carried = f" forwarded by {via}" if via else ""
        raise Refused(f"veto{carried} refused: {why}")
    entry = {
        "kind": "commons.veto",
        "custodian": name,
        "proposal_id": proposal.id,
        "proposal_digest": proposal.digest.hex(),
        "party": decision.party,
    } | ({"via": via} if via else {})
    document = json.dumps({"proposal": proposal.to_json(), "decision": decision.to_json()})
    with write(engine) as conn:
        known = conn.execute(
            select(t.vetoes.c.party).where(
                t.vetoes.c.proposal_id == proposal.id, t.vetoes.c.party == decision.party
            )
        ).first()
        if known:
            return None
        now = utcnow()
        conn.execute(
            t.vetoes.insert().values(
                proposal_id=proposal.id,
                party=decision.party,
                decision=json.dumps(decision.to_json()),
                created_at=now,
            )
        )
        for peer in roster.custodians:
            if peer.name in (name, via):  # the sender has it already
                continue
            conn.execute(
                t.forwards.insert().values(
                    proposal_id=proposal.id,
                    party=decision.party,
                    peer=peer.name,
                    veto=document,
                    state="pending",
                    attempts=0,
                    last_error=None,
                    updated_at=now,
                )
            )
        return ledger.append(entry, connection=conn)


def forwarded_from(roster: Roster, name: str, doc: Mapping[str, Any]) -> str:
    """The peer named as the carrier of a forwarded veto (transport only: it proves nothing)."""
    sender = check_name("custodian name", field(doc, "forwarded veto", "from", str))
    if roster.custodian(sender) is None or sender == name:
        raise InputError("forwarded veto", "from", f"{sender} is not a peer on this roster")
    return sender
