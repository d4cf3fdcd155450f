"""One run of an approved proposal, on the keep's side: nonces from the custodians, evidence
binding them, the analysis digest and the proposal digest, k shares per dataset, the analysis
in a wasmtime keep, the output rule applied by this runtime, results sealed to every party.

The keep keys (HPKE for the shares, Ed25519 for the result report, both bound into the
evidence) live only in this process. Custodians that are down are skipped: the run goes
on while k of the rest release. What the keep learns from a custodian is only its share of
each dataset key, sealed to the keep key and bound to this proposal."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from elsewhere.attest.base import Attester
from elsewhere.commons.canon import b64, canonical_bytes, unb64
from elsewhere.commons.client import CustodianClient, CustodianDown
from elsewhere.commons.datasets import decrypt_dataset
from elsewhere.commons.proposals import Decision, Proposal
from elsewhere.commons.roster import Roster
from elsewhere.commons.rules import apply_rule, parse_outputs
from elsewhere.commons.shares import Share, join_key
from elsewhere.commons.wire import (
    RELEASE_INFO,
    RESULT_INFO,
    combined_nonce,
    keep_keys,
    output_message,
    release_aad,
    result_aad,
    sealed_digest,
)
from elsewhere.crypto.binding import report_data, workload_digest
from elsewhere.crypto.hpke import KeepKey, seal
from elsewhere.errors import ElsewhereError, Refused
from elsewhere.keep.config import KeepConfig
from elsewhere.keep.limits import KeepLimits
from elsewhere.keep.runtime import run_module

MIB = 1 << 20


@dataclass(frozen=True)
class EncryptedDataset:
    dataset_id: str
    owner: str
    ciphertext: bytes


@dataclass(frozen=True)
class RunResult:
    proposal_id: str
    sealed: Mapping[str, bytes]  # party → result sealed to its key
    result_digest: str  # over the sealed results (what the custodians log)
    suppressed: int
    epsilon: float
    released_by: tuple[str, ...]
    refusals: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {
            "proposal_id": self.proposal_id,
            "sealed": {p: b64(s) for p, s in self.sealed.items()},
            "result_digest": self.result_digest,
            "suppressed": self.suppressed,
            "epsilon": self.epsilon,
            "released_by": list(self.released_by),
            "refusals": list(self.refusals),
        }


def run_proposal(
    roster: Roster,
    clients: Sequence[CustodianClient],
    proposal: Proposal,
    decisions: Sequence[Decision],
    datasets: Sequence[EncryptedDataset],
    module: bytes,
    attester: Attester,
    *,
    limits: KeepLimits | None = None,
) -> RunResult:
    """Raises Refused (with every custodian's reason) when fewer than k released."""
    by_id = {d.dataset_id: d for d in datasets}
    missing = [d for d in proposal.datasets if d not in by_id]
    if missing:
        raise Refused(f"datasets not supplied to the keep: {', '.join(missing)}")
    refusals: list[str] = []
    nonces: list[tuple[CustodianClient, bytes]] = []
    for client in clients:
        try:
            answer = client.post(f"/v1/proposals/{proposal.id}/nonce")
            nonces.append((client, bytes.fromhex(answer["nonce"])))
        except CustodianDown as error:
            refusals.append(error.message)
    key = KeepKey.generate()
    signer = Ed25519PrivateKey.generate()  # signs the result report; bound with the HPKE key
    sign_key = signer.public_key().public_bytes_raw()
    nonces_digest = combined_nonce([n for _, n in nonces])
    digest = workload_digest(module)  # what this keep runs, not what the proposal says
    bound = report_data(
        nonces_digest, keep_keys(key.public_bytes(), sign_key), digest, proposal.digest
    )
    evidence = attester.attest(bound)
    request = {
        "proposal": proposal.to_json(),
        "decisions": [d.to_json() for d in decisions],
        "nonces": [n.hex() for _, n in nonces],
        "keep_public_key": b64(key.public_bytes()),
        "keep_sign_key": b64(sign_key),
        "evidence": b64(evidence.evidence),
        "certificates": b64(evidence.aux) if evidence.aux else None,
    }
    shares: dict[str, list[Share]] = {d: [] for d in proposal.datasets}
    released: list[CustodianClient] = []
    for client, _ in nonces:
        try:
            answer = client.post("/v1/releases", request)
        except ElsewhereError as error:
            refusals.append(error.message)
            continue
        released.append(client)
        for dataset_id, wrapped in answer["shares"].items():
            plain = key.open(
                unb64("release", dataset_id, wrapped),
                info=RELEASE_INFO,
                aad=release_aad(proposal.digest, dataset_id, client.name),
            )
            shares[dataset_id].append(Share.parse(plain))
    if len(released) < roster.shares_needed:
        raise Refused(
            f"{len(released)} of {roster.shares_needed} custodians released: "
            + " | ".join(refusals)
        )
    stdin = b"".join(
        decrypt_dataset(
            join_key(shares[d], roster.shares_needed), d, by_id[d].owner, by_id[d].ciphertext
        )
        for d in proposal.datasets
    )
    base = limits or KeepLimits()
    limits = KeepLimits(
        **{**base.to_json(), "max_stdin_bytes": max(base.max_stdin_bytes, len(stdin) + MIB)}
    )
    outcome = run_module(
        module,
        KeepConfig(workload_digest=digest, limits=limits, program_name="analysis"),
        stdin=stdin,
    )
    del stdin
    if not outcome.ok:
        raise Refused(
            f"analysis ended {outcome.outcome} (exit {outcome.exit_code}): no output released"
        )
    released_cells = apply_rule(proposal.rule, parse_outputs(outcome.stdout))
    result = canonical_bytes(
        {"proposal_id": proposal.id, "proposal_digest": proposal.digest.hex()}
        | released_cells.to_json()
    )
    parties = sorted({by_id[d].owner for d in proposal.datasets} | {proposal.proposer})
    sealed = {}
    for name in parties:
        party = roster.party(name)
        if party is not None:
            sealed[name] = seal(
                party.seal_key, result, info=RESULT_INFO, aad=result_aad(proposal.digest, name)
            )
    digest_text = sealed_digest(sealed)
    message = output_message(proposal.digest, nonces_digest, digest_text, released_cells.suppressed)
    report = {
        "proposal_id": proposal.id,
        "result_digest": digest_text,
        "suppressed": released_cells.suppressed,
        "signature": b64(signer.sign(message)),
    }
    for client in released:
        client.post("/v1/outputs", report)
    return RunResult(
        proposal.id,
        sealed,
        digest_text,
        released_cells.suppressed,
        released_cells.epsilon,
        tuple(c.name for c in released),
        tuple(refusals),
    )


def open_result(keys: Any, proposal: Proposal, sealed: bytes) -> dict[str, Any]:
    """A party opens its sealed result (`keys`: its PartyKeys)."""
    plain = keys.seal.open(sealed, info=RESULT_INFO, aad=result_aad(proposal.digest, keys.name))
    doc: dict[str, Any] = json.loads(plain)
    return doc
