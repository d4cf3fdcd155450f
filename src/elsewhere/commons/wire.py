"""Labels and byte encodings of the commons protocol, in one place (change one: version it)."""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Mapping, Sequence
from typing import Final

from elsewhere.ledger.canonical import canonical_bytes

DECISION_LABEL: Final = b"elsewhere/commons/decision/v1\x00"
DEPOSIT_LABEL: Final = b"elsewhere/commons/deposit/v1\x00"
PROPOSAL_LABEL: Final = b"elsewhere/commons/proposal/v1\x00"
NONCES_LABEL: Final = b"elsewhere/commons/nonces/v1\x00"
SHARE_INFO: Final = b"elsewhere/commons/share/v1"
RELEASE_INFO: Final = b"elsewhere/commons/release/v1"
RESULT_INFO: Final = b"elsewhere/commons/result/v1"
PUBLISH_LABEL: Final = b"elsewhere/commons/publish/v1\x00"
DATASET_AAD: Final = b"elsewhere/commons/dataset/v1\x00"
KEEP_KEYS_LABEL: Final = b"elsewhere/commons/keep-keys/v1\x00"
OUTPUT_LABEL: Final = b"elsewhere/commons/output/v1\x00"
# The first line of a custodian's signed answer to a peer's veto query (a signed note under
# its log key; a checkpoint's second line is a tree size, so the two never parse as each other).
VETO_ANSWER_ORIGIN: Final = "elsewhere/commons/veto-answer/v1"


def share_aad(dataset_id: str, custodian: str) -> bytes:
    """A deposited share is bound to its dataset and the custodian it was wrapped to."""
    return (
        b"elsewhere/commons/share-aad/v1\x00" + dataset_id.encode() + b"\x00" + custodian.encode()
    )


def release_aad(proposal_digest: bytes, dataset_id: str, custodian: str) -> bytes:
    """A released share is bound to the proposal, the dataset and the releasing custodian."""
    return (
        b"elsewhere/commons/release-aad/v1\x00"
        + proposal_digest
        + dataset_id.encode()
        + b"\x00"
        + custodian.encode()
    )


def result_aad(proposal_digest: bytes, party: str) -> bytes:
    return b"elsewhere/commons/result-aad/v1\x00" + proposal_digest + party.encode()


def combined_nonce(nonces: Sequence[bytes]) -> bytes:
    """The one nonce a keep binds into report_data for several custodians' nonces: SHA-256 of
    them, length-prefixed in the order given (each custodian finds its own in the list)."""
    h = hashlib.sha256(NONCES_LABEL)
    for nonce in nonces:
        h.update(struct.pack(">H", len(nonce)) + nonce)
    return h.digest()


def sealed_digest(sealed: Mapping[str, bytes]) -> str:
    """The digest of a run's results as logged: over each party's sealed blob's SHA-256, so a
    party checks its own blob against the log without seeing the others'."""
    doc = {party: hashlib.sha256(blob).hexdigest() for party, blob in sealed.items()}
    return "sha256:" + hashlib.sha256(canonical_bytes(doc)).hexdigest()


def publish_message(dataset_id: str, ciphertext_digest: str) -> bytes:
    """What an owner signs to publish its dataset's ciphertext through the operator."""
    return PUBLISH_LABEL + dataset_id.encode() + b"\x00" + ciphertext_digest.encode()


def keep_keys(hpke_public_key: bytes, sign_public_key: bytes) -> bytes:
    """What a commons keep binds in report_data's keep-key field: its HPKE key (shares are
    sealed to it) and its Ed25519 key (it signs the result report with it), length-prefixed
    under a label, so evidence for one pair is evidence for no other pair."""
    return (
        KEEP_KEYS_LABEL
        + struct.pack(">H", len(hpke_public_key))
        + hpke_public_key
        + struct.pack(">H", len(sign_public_key))
        + sign_public_key
    )


def output_message(
    proposal_digest: bytes, nonces_digest: bytes, result_digest: str, suppressed: int
) -> bytes:
    """What the keep signs to report a run's result digest: the proposal and the nonces it
    bound in its evidence, so a report signed for one run is no report for another."""
    doc = {
        "proposal_digest": proposal_digest.hex(),
        "nonces": nonces_digest.hex(),
        "result_digest": result_digest,
        "suppressed": suppressed,
    }
    return OUTPUT_LABEL + canonical_bytes(doc)
