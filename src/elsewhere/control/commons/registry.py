"""The commons registry: what parties publish through the operator, checked and logged.

Every write verifies what it can without any secret (signatures against the roster, digests
recomputed) and writes its row and its ledger entry in one transaction. Nothing here can
decrypt: ciphertexts and results are sealed, keys are with the custodians."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from elsewhere.commons.canon import b64, check_name, field, unb64
from elsewhere.commons.datasets import MAX_DATASET_BYTES
from elsewhere.commons.proposals import Decision, Proposal, Verb, check_decision, standing
from elsewhere.commons.roster import Roster
from elsewhere.commons.wire import publish_message, sealed_digest
from elsewhere.control.commons import tables as t
from elsewhere.errors import Conflict, InputError, NotFound, Refused, TooLarge
from elsewhere.ledger.log import Ledger
from elsewhere.timeutil import utcnow

ROSTER_ID = 1


def set_roster(conn: Connection, ledger: Ledger, doc: Mapping[str, Any]) -> dict[str, Any]:
    """The operator publishes the roster the parties agreed (custodians use their own copy)."""
    roster = Roster.from_json(doc)
    text = json.dumps(roster.to_json(), sort_keys=True)
    conn.execute(t.rosters.delete().where(t.rosters.c.id == ROSTER_ID))
    conn.execute(
        t.rosters.insert().values(
            id=ROSTER_ID, digest=roster.digest, document=text, updated_at=utcnow()
        )
    )
    index = ledger.append(
        {"kind": "commons.roster", "roster_digest": roster.digest}, connection=conn
    )
    return {"roster_digest": roster.digest, "ledger_index": index}


def roster(conn: Connection) -> Roster:
    row = conn.execute(select(t.rosters.c.document).where(t.rosters.c.id == ROSTER_ID)).first()
    if row is None:
        raise NotFound("no commons roster published yet")
    return Roster.from_json(json.loads(row.document))


def add_dataset(conn: Connection, ledger: Ledger, doc: Mapping[str, Any]) -> dict[str, Any]:
    what = "dataset"
    dataset_id = check_name("dataset id", field(doc, what, "dataset_id", str))
    owner = check_name("party name", field(doc, what, "owner", str))
    ciphertext = unb64(what, "ciphertext", field(doc, what, "ciphertext", str))
    if len(ciphertext) > MAX_DATASET_BYTES:
        raise TooLarge(f"dataset {dataset_id}: {len(ciphertext)} bytes, over {MAX_DATASET_BYTES}")
    signature = unb64(what, "signature", field(doc, what, "signature", str))
    digest = "sha256:" + hashlib.sha256(ciphertext).hexdigest()
    party = roster(conn).party(owner)
    if party is None or not party.verify(publish_message(dataset_id, digest), signature):
        raise Refused(f"dataset {dataset_id}: not signed by {owner}, a party of this commons")
    if conn.execute(select(t.datasets.c.id).where(t.datasets.c.id == dataset_id)).first():
        raise Conflict(f"dataset {dataset_id} is already published")
    conn.execute(
        t.datasets.insert().values(
            id=dataset_id, owner=owner, digest=digest, ciphertext=ciphertext, created_at=utcnow()
        )
    )
    index = ledger.append(
        {
            "kind": "commons.dataset",
            "dataset_id": dataset_id,
            "owner": owner,
            "ciphertext_digest": digest,
        },
        connection=conn,
    )
    return {"dataset_id": dataset_id, "ciphertext_digest": digest, "ledger_index": index}


def dataset(conn: Connection, dataset_id: str) -> dict[str, Any]:
    row = conn.execute(select(t.datasets).where(t.datasets.c.id == dataset_id)).first()
    if row is None:
        raise NotFound(f"no dataset {dataset_id}")
    return {
        "dataset_id": row.id,
        "owner": row.owner,
        "ciphertext_digest": row.digest,
        "ciphertext": b64(row.ciphertext),
    }


def add_proposal(conn: Connection, ledger: Ledger, doc: Mapping[str, Any]) -> dict[str, Any]:
    """A proposal, published with its proposer's approval (so only parties propose)."""
    proposal = Proposal.from_json(field(doc, "proposal request", "proposal", dict))
    decision = Decision.from_json(field(doc, "proposal request", "approval", dict))
    if decision.verb is not Verb.APPROVE or decision.party != proposal.proposer:
        raise InputError("proposal request", "approval", "must be the proposer's approval")
    why = check_decision(roster(conn), decision, proposal.digest)
    if why is not None:
        raise Refused(f"proposal {proposal.id}: {why}")
    if conn.execute(select(t.proposals.c.id).where(t.proposals.c.id == proposal.id)).first():
        raise Conflict(f"proposal {proposal.id} exists (a changed proposal needs a new id)")
    conn.execute(
        t.proposals.insert().values(
            id=proposal.id,
            digest=proposal.digest.hex(),
            document=json.dumps(proposal.to_json()),
            created_at=utcnow(),
        )
    )
    index = ledger.append(
        {
            "kind": "commons.proposal",
            "proposal_id": proposal.id,
            "proposal_digest": proposal.digest.hex(),
        }
        | proposal.to_json(),
        connection=conn,
    )
    _record(conn, ledger, proposal, decision)
    return {
        "proposal_id": proposal.id,
        "proposal_digest": proposal.digest.hex(),
        "ledger_index": index,
    }


def _proposal(conn: Connection, proposal_id: str) -> Proposal:
    row = conn.execute(
        select(t.proposals.c.document).where(t.proposals.c.id == proposal_id)
    ).first()
    if row is None:
        raise NotFound(f"no proposal {proposal_id}")
    return Proposal.from_json(json.loads(row.document))


def _record(conn: Connection, ledger: Ledger, proposal: Proposal, decision: Decision) -> int | None:
    known = conn.execute(
        select(t.decisions.c.ledger_index).where(
            t.decisions.c.proposal_id == proposal.id,
            t.decisions.c.party == decision.party,
            t.decisions.c.verb == decision.verb.value,
        )
    ).first()
    if known is not None:
        return None  # the same party's same decision again: counted once, logged once
    index = ledger.append(
        {
            "kind": f"commons.{decision.verb.value}",
            "proposal_id": proposal.id,
            "proposal_digest": proposal.digest.hex(),
            "party": decision.party,
        },
        connection=conn,
    )
    conn.execute(
        t.decisions.insert().values(
            proposal_id=proposal.id,
            party=decision.party,
            verb=decision.verb.value,
            document=json.dumps(decision.to_json()),
            ledger_index=index,
            created_at=utcnow(),
        )
    )
    return index


def add_decision(
    conn: Connection, ledger: Ledger, proposal_id: str, doc: Mapping[str, Any]
) -> dict[str, Any]:
    proposal = _proposal(conn, proposal_id)
    decision = Decision.from_json(doc)
    why = check_decision(roster(conn), decision, proposal.digest)
    if why is not None:
        raise Refused(f"proposal {proposal_id}: {why}")
    index = _record(conn, ledger, proposal, decision)
    return {
        "proposal_id": proposal_id,
        "party": decision.party,
        "verb": decision.verb.value,
        "ledger_index": index,
    }


def proposal_view(conn: Connection, proposal_id: str) -> dict[str, Any]:
    """The proposal, its decisions, and where it stands as the registry sees it (custodians
    decide for themselves: this is information, not permission)."""
    proposal = _proposal(conn, proposal_id)
    rows = conn.execute(
        select(t.decisions.c.document).where(t.decisions.c.proposal_id == proposal_id)
    ).all()
    decisions = [Decision.from_json(json.loads(r.document)) for r in rows]
    owners = {
        r.id: r.owner
        for r in conn.execute(
            select(t.datasets.c.id, t.datasets.c.owner).where(
                t.datasets.c.id.in_(proposal.datasets)
            )
        )
    }
    stand = standing(roster(conn), proposal, decisions, owners, now=int(time.time()))
    return {
        "proposal": proposal.to_json(),
        "proposal_digest": proposal.digest.hex(),
        "decisions": [d.to_json() for d in decisions],
        "approvers": list(stand.approvers),
        "vetoed_by": list(stand.vetoed_by),
        "refusals": list(stand.refusals),
    }


def add_result(
    conn: Connection, ledger: Ledger, proposal_id: str, doc: Mapping[str, Any]
) -> dict[str, Any]:
    proposal = _proposal(conn, proposal_id)
    sealed_doc = field(doc, "result", "sealed", dict)
    sealed = {
        check_name("party name", p): unb64("result", f"sealed.{p}", v)
        for p, v in sealed_doc.items()
    }
    digest = sealed_digest(sealed)
    if field(doc, "result", "result_digest", str) != digest:
        raise InputError("result", "result_digest", f"does not match the sealed results ({digest})")
    if conn.execute(
        select(t.results.c.proposal_id).where(t.results.c.proposal_id == proposal.id)
    ).first():
        raise Conflict(f"proposal {proposal_id} has a result already")
    index = ledger.append(
        {
            "kind": "commons.result",
            "proposal_id": proposal.id,
            "proposal_digest": proposal.digest.hex(),
            "result_digest": digest,
            "parties": sorted(sealed),
        },
        connection=conn,
    )
    conn.execute(
        t.results.insert().values(
            proposal_id=proposal.id,
            digest=digest,
            sealed=json.dumps({p: base64.b64encode(v).decode() for p, v in sealed.items()}),
            ledger_index=index,
            created_at=utcnow(),
        )
    )
    return {"proposal_id": proposal_id, "result_digest": digest, "ledger_index": index}


def result(conn: Connection, proposal_id: str) -> dict[str, Any]:
    row = conn.execute(select(t.results).where(t.results.c.proposal_id == proposal_id)).first()
    if row is None:
        raise NotFound(f"no result for proposal {proposal_id}")
    return {
        "proposal_id": proposal_id,
        "result_digest": row.digest,
        "sealed": json.loads(row.sealed),
        "ledger_index": row.ledger_index,
    }
