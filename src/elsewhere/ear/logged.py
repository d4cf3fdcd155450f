"""Was this result logged? A token's ledger claim, checked against an inclusion proof.

The control plane signs the token in the commit that writes the decision's ledger entry, so
the token names the log (`origin`), the entry's `index` and its `leaf_hash`. A proof bundle
(c2sp tlog-proof, `elsewhere.ledger.bundle`) from that log shows a leaf at that index under a
checkpoint signed by the log's key; the leaf must be the token's, and the entry must say the
same decision as the token. Nothing here fetches: the caller brings the bundle (over HTTP or
from the database), and nothing here reads a database.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from elsewhere.ear.ar4si import Tier
from elsewhere.ear.result import EarResult
from elsewhere.errors import InputError, VerificationFailed
from elsewhere.i18n import N_
from elsewhere.ledger.bundle import parse_bundle, verify_bundle
from elsewhere.ledger.checkpoint import SignedCheckpoint
from elsewhere.ledger.merkle import leaf_hash
from elsewhere.ledger.note import Verifier

DECISION_KIND = "attestation.decision"
_WHAT = "EAR token"


@dataclass(frozen=True)
class LedgerClaim:
    """Where the token says its decision is logged."""

    origin: str
    index: int
    leaf_hash: bytes


@dataclass(frozen=True)
class Proved:
    """The claim, proved: the entry is at `index` in the tree of `checkpoint` (size, root)."""

    claim: LedgerClaim
    checkpoint: SignedCheckpoint
    entry: Mapping[str, Any]


class NotYetProvable(VerificationFailed):
    """The entry exists but no signed checkpoint covers it yet (retry after the next one)."""

    def __init__(self, index: int) -> None:
        super().__init__(
            N_(
                "no signed checkpoint covers index {index} yet — try again after the next "
                "checkpoint"
            ).format(index=index)
        )


def ledger_claim(ear: EarResult) -> LedgerClaim:
    """The token's `ear_elsewhere.ledger`, which must name an origin, an index and a leaf hash;
    VerificationFailed if it names no index (a token issued before tokens carried one)."""
    ledger = ear.submod().extension.get("ledger")
    where = "submods.keep.ear_elsewhere.ledger"
    if not isinstance(ledger, Mapping) or not isinstance(ledger.get("origin"), str):
        raise InputError(_WHAT, where, "names no ledger origin")
    if "index" not in ledger or "leaf_hash" not in ledger:
        raise VerificationFailed(
            N_("{what}: names no ledger index and leaf hash: cannot prove it was logged").format(
                what=_WHAT
            )
        )
    index, leaf = ledger["index"], ledger["leaf_hash"]
    if type(index) is not int or index < 0:
        raise InputError(_WHAT, f"{where}.index", "must be a non-negative integer")
    if not isinstance(leaf, str) or len(leaf) != 64 or leaf != leaf.lower():
        raise InputError(_WHAT, f"{where}.leaf_hash", "must be 64 lower-case hex digits")
    try:
        value = bytes.fromhex(leaf)
    except ValueError:
        raise InputError(_WHAT, f"{where}.leaf_hash", "must be 64 lower-case hex digits") from None
    return LedgerClaim(ledger["origin"], index, value)


def prove(claim: LedgerClaim, bundle: bytes, keys: Sequence[Verifier], ear: EarResult) -> Proved:
    """Check `bundle` proves the token's entry under a checkpoint of the token's log signed by
    one of `keys` (several after a key rotation); VerificationFailed, one line, if not."""
    mine = [k for k in keys if k.name == claim.origin]
    if not mine:
        raise InputError("--key", ", ".join(k.name for k in keys), f"no key for {claim.origin}")
    failure: VerificationFailed | None = None
    for key in mine:
        try:
            verified = verify_bundle(bundle, key, origin=claim.origin)
            break
        except VerificationFailed as error:  # signed by another of the log's keys?
            failure = error
    else:
        assert failure is not None
        raise failure
    if verified.index != claim.index:
        raise VerificationFailed(
            f"ledger: the proof is for index {verified.index}, the token names {claim.index}"
        )
    data = parse_bundle(bundle).entry
    if data is None or leaf_hash(data) != claim.leaf_hash:
        raise VerificationFailed(
            N_("ledger: entry {index} of {origin} is not the entry the token names "
               "(leaf hash differs)").format(index=claim.index, origin=claim.origin)
        )  # fmt: skip
    _same_decision(verified.entry, ear, claim.index)
    return Proved(claim, verified.checkpoint, verified.entry)


def _same_decision(entry: Mapping[str, Any], ear: EarResult, index: int) -> None:
    """The logged decision and the token say the same thing (both are signed by the control
    plane; a difference means it logged one decision and answered another)."""
    ours = ear.submod().extension
    verdict = "refused" if ear.status is Tier.CONTRAINDICATED else "accepted"
    expected = {
        "kind": DECISION_KIND,
        "verdict": verdict,
        "policy_digest": ours.get("policy_digest"),
        "tee": ours.get("tee"),
        "emulated": ours.get("emulated"),
        "host": ours.get("host"),
    }
    for field, value in expected.items():
        if value is not None and entry.get(field) != value:
            raise VerificationFailed(
                f"ledger: entry {index} says {field} {entry.get(field)!r}, the token {value!r}"
            )
