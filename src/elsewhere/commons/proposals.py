"""Proposals, the decisions parties sign over them, and whether a proposal may run.

A proposal names the analysis (SHA-384 of the module bytes), the datasets, the output rule,
the ε each dataset spends and an expiry. Its digest is SHA-256 of the label and the canonical
JSON of all of that, its id included: a signature over one proposal's digest is no signature
over any other (another id, analysis, dataset set, rule or expiry), so approvals cannot be
reused across proposals. Repeating an approval counts its party once.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from elsewhere.commons.canon import b64, canonical_bytes, check_name, field, unb64
from elsewhere.commons.roster import Roster
from elsewhere.commons.rules import OutputRule
from elsewhere.commons.wire import DECISION_LABEL, PROPOSAL_LABEL
from elsewhere.errors import InputError

_SHA384 = re.compile(r"[0-9a-f]{96}")
MAX_DATASETS = 64


@dataclass(frozen=True)
class Proposal:
    id: str
    analysis_digest: str  # hex SHA-384 of the exact module bytes (bound into report_data)
    datasets: tuple[str, ...]  # dataset ids, sorted
    rule: OutputRule
    expires_at: int  # unix seconds
    proposer: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "analysis_digest": self.analysis_digest,
            "datasets": list(self.datasets),
            "rule": self.rule.to_json(),
            "expires_at": self.expires_at,
            "proposer": self.proposer,
        }

    @property
    def digest(self) -> bytes:
        return hashlib.sha256(PROPOSAL_LABEL + canonical_bytes(self.to_json())).digest()

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Proposal:
        what = "proposal"
        digest = field(doc, what, "analysis_digest", str)
        if not _SHA384.fullmatch(digest):
            raise InputError(what, "analysis_digest", "must be 96 lowercase hex (SHA-384)")
        datasets = field(doc, what, "datasets", list)
        if not 1 <= len(datasets) <= MAX_DATASETS:
            raise InputError(what, "datasets", f"give 1..{MAX_DATASETS} dataset ids")
        names = tuple(check_name("dataset id", d) for d in datasets)
        if list(names) != sorted(set(names)):
            raise InputError(what, "datasets", "must be sorted and without repeats")
        return cls(
            id=check_name("proposal id", field(doc, what, "id", str)),
            analysis_digest=digest,
            datasets=names,
            rule=OutputRule.from_json(field(doc, what, "rule", dict)),
            expires_at=field(doc, what, "expires_at", int),
            proposer=check_name("party name", field(doc, what, "proposer", str)),
        )


class Verb(StrEnum):
    APPROVE = "approve"
    VETO = "veto"


def decision_message(verb: Verb, proposal_digest: bytes) -> bytes:
    return DECISION_LABEL + verb.value.encode() + b"\x00" + proposal_digest


@dataclass(frozen=True)
class Decision:
    """One party's signed approval or veto of one proposal digest."""

    verb: Verb
    party: str
    proposal_digest: bytes
    signature: bytes

    def to_json(self) -> dict[str, str]:
        return {
            "verb": self.verb.value,
            "party": self.party,
            "proposal_digest": self.proposal_digest.hex(),
            "signature": b64(self.signature),
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Decision:
        what = "decision"
        try:
            verb = Verb(field(doc, what, "verb", str))
        except ValueError:
            raise InputError(what, "verb", "must be approve or veto") from None
        try:
            digest = bytes.fromhex(field(doc, what, "proposal_digest", str))
        except ValueError:
            raise InputError(what, "proposal_digest", "not hex") from None
        if len(digest) != 32:
            raise InputError(what, "proposal_digest", "must be 32 bytes")
        return cls(
            verb=verb,
            party=check_name("party name", field(doc, what, "party", str)),
            proposal_digest=digest,
            signature=unb64(what, "signature", field(doc, what, "signature", str)),
        )


def sign_decision(keys: Any, verb: Verb, proposal: Proposal) -> Decision:
    """`keys` is a PartyKeys (its sign method)."""
    digest = proposal.digest
    return Decision(verb, keys.name, digest, keys.sign(decision_message(verb, digest)))


def check_decision(roster: Roster, decision: Decision, proposal_digest: bytes) -> str | None:
    """Why this decision does not count for the proposal with this digest (None: it counts)."""
    if decision.proposal_digest != proposal_digest:
        return f"{decision.verb} by {decision.party} is for another proposal digest"
    party = roster.party(decision.party)
    if party is None:
        return f"{decision.verb} by {decision.party}: not a party of this commons"
    if not party.verify(decision_message(decision.verb, proposal_digest), decision.signature):
        return f"{decision.verb} by {decision.party}: signature does not verify"
    return None


@dataclass(frozen=True)
class Standing:
    """Whether a proposal may run now: `refusals` empty means yes."""

    approvers: tuple[str, ...]
    vetoed_by: tuple[str, ...]
    refusals: tuple[str, ...]

    @property
    def runnable(self) -> bool:
        return not self.refusals


def standing(
    roster: Roster,
    proposal: Proposal,
    decisions: Iterable[Decision],
    owners: Mapping[str, str],
    *,
    now: int,
) -> Standing:
    """m-of-n approvals, every dataset's owner among them, no veto, not expired.

    `owners` maps each dataset id to its owner (as the custodian recorded at deposit).
    Decisions that do not verify are refusals: a caller that sends a forged or misdirected
    signature learns why it was not counted."""
    digest = proposal.digest
    approvers: set[str] = set()
    vetoes: set[str] = set()
    refusals: list[str] = []
    for decision in decisions:
        why = check_decision(roster, decision, digest)
        if why is not None:
            refusals.append(f"not counted: {why}")
        elif decision.verb is Verb.APPROVE:
            approvers.add(decision.party)
        else:
            vetoes.add(decision.party)
    if vetoes:
        refusals.append(f"vetoed by {', '.join(sorted(vetoes))}")
    if now >= proposal.expires_at:
        refusals.append(f"expired at {proposal.expires_at} (now {now})")
    for dataset in proposal.datasets:
        owner = owners.get(dataset)
        if owner is None:
            refusals.append(f"dataset {dataset}: not deposited here")
        elif owner not in approvers:
            refusals.append(f"dataset {dataset}: its owner {owner} has not approved")
    if len(approvers) < roster.approvals_needed:
        refusals.append(
            f"{len(approvers)} of {roster.approvals_needed} approvals needed"
            f" ({', '.join(sorted(approvers)) or 'none'})"
        )
    return Standing(tuple(sorted(approvers)), tuple(sorted(vetoes)), tuple(refusals))
