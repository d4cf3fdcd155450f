"""What one party runs alone: witness rounds between custodians, and the audit of every
custodian's log (signature, witness cosignatures, every entry against the signed root).

A party trusts no single custodian's word: each log must be signed by its custodian's key
from the roster, cosigned by at least one other custodian as witness (so a history shown
only to this party would lack cosignatures), and its entries must reproduce the signed root.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from elsewhere.commons.client import CustodianClient
from elsewhere.commons.roster import CONTROL_PLANE, Roster
from elsewhere.errors import ElsewhereError, VerificationFailed
from elsewhere.ledger import merkle
from elsewhere.ledger.bundle import verify_bundle
from elsewhere.ledger.checkpoint import cosigned_by, open_checkpoint
from elsewhere.ledger.note import b64decode

PAGE = 1000


def witness_round(
    roster: Roster, clients: Sequence[CustodianClient], registry: Any = None
) -> list[str]:
    """Each custodian's checkpoint to each other custodian to cosign, and the control plane's
    (`registry`, a RegistryClient) to every custodian; the cosignatures go back to the log.
    Returns the refusals (a split view or rollback is one)."""
    problems: list[str] = []
    if registry is not None:
        problems += _witness_control_plane(roster, clients, registry)
    for log in clients:
        try:
            note = log.get("/v1/log/checkpoint")["note"]
        except ElsewhereError as error:
            problems.append(error.message)
            continue
        size = open_checkpoint(note.encode(), _custodian(roster, log.name).log_verifier).size
        for witness in clients:
            if witness is log:
                continue
            try:
                seen = int(witness.get(f"/v1/witness/{log.name}")["size"])
                proof = (
                    log.get("/v1/log/consistency", old=seen, new=size)["proof"]
                    if 0 < seen < size
                    else []
                )
                cosigned = witness.post(
                    "/v1/witness", {"custodian": log.name, "note": note, "proof": proof}
                )
                log.post("/v1/log/cosignatures", {"note": cosigned["note"]})
            except ElsewhereError as error:
                problems.append(error.message)
    return problems


def _witness_control_plane(
    roster: Roster, clients: Sequence[CustodianClient], registry: Any
) -> list[str]:
    key = roster.log_verifier(CONTROL_PLANE)
    if key is None:
        return ["the roster names no control_plane_log_key: its log is not witnessed"]
    problems: list[str] = []
    try:
        note = registry.log_checkpoint()["note"]
        size = open_checkpoint(note.encode(), key).size
    except ElsewhereError as error:
        return [error.message]
    for witness in clients:
        try:
            seen = int(witness.get(f"/v1/witness/{CONTROL_PLANE}")["size"])
            proof = registry.log_consistency(seen, size)["proof"] if 0 < seen < size else []
            cosigned = witness.post(
                "/v1/witness", {"custodian": CONTROL_PLANE, "note": note, "proof": proof}
            )
            registry.log_cosign(cosigned["note"])
        except ElsewhereError as error:
            problems.append(error.message)
    return problems


def audit_control_plane(roster: Roster, registry: Any) -> LogAudit:
    """The control plane's commons entries: each with an inclusion proof against a checkpoint
    signed by the roster's control-plane key and cosigned by at least one custodian."""
    key = roster.log_verifier(CONTROL_PLANE)
    if key is None:
        return LogAudit(CONTROL_PLANE, 0, (), (), ("the roster names no control_plane_log_key",))
    witnesses = [c.witness_verifier for c in roster.custodians]
    problems: list[str] = []
    entries: list[dict[str, Any]] = []
    cosigners: tuple[str, ...] = ()
    size = 0
    try:
        answer = registry.log_bundles()
        size = int(answer["size"])
        for item in answer["bundles"]:
            verified = verify_bundle(base64.b64decode(item), key, witnesses=witnesses, quorum=1)
            entries.append(verified.entry)
            cosigners = verified.witnesses
    except ElsewhereError as error:
        problems.append(f"{CONTROL_PLANE}: {error.message}")
    return LogAudit(CONTROL_PLANE, size, cosigners, tuple(entries), tuple(problems))


@dataclass(frozen=True)
class LogAudit:
    custodian: str
    size: int
    cosigners: tuple[str, ...]
    entries: tuple[dict[str, Any], ...]
    problems: tuple[str, ...]


@dataclass(frozen=True)
class AuditReport:
    party: str
    logs: tuple[LogAudit, ...]

    @property
    def ok(self) -> bool:
        return all(not log.problems for log in self.logs)

    def mine(self, log: LogAudit) -> list[dict[str, Any]]:
        """The entries about this party: its deposits and vetoes, and every run that used them."""
        datasets = {
            e["dataset_id"]
            for e in log.entries
            if e.get("kind") in ("commons.deposit", "commons.dataset")
            and e.get("owner") == self.party
        }
        proposals = {
            e.get("proposal_id") for e in log.entries if set(e.get("datasets", ())) & datasets
        } - {None}
        return [
            e
            for e in log.entries
            if e.get("dataset_id") in datasets
            or e.get("party") == self.party
            or e.get("proposal_id") in proposals
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            "party": self.party,
            "ok": self.ok,
            "logs": [
                {
                    "custodian": log.custodian,
                    "size": log.size,
                    "cosigned_by": list(log.cosigners),
                    "problems": list(log.problems),
                    "entries_about_party": self.mine(log),
                }
                for log in self.logs
            ],
        }


def _custodian(roster: Roster, name: str) -> Any:
    found = roster.custodian(name)
    if found is None:
        raise VerificationFailed(f"custodian {name} is not in the roster")
    return found


def audit_log(roster: Roster, client: CustodianClient, note: str | None = None) -> LogAudit:
    """One custodian's log; `note` audits a checkpoint given (e.g. one shown to another party)."""
    custodian = _custodian(roster, client.name)
    problems: list[str] = []
    try:
        text = note if note is not None else client.get("/v1/log/checkpoint")["note"]
        signed = open_checkpoint(text.encode(), custodian.log_verifier)
    except ElsewhereError as error:
        return LogAudit(client.name, 0, (), (), (error.message,))
    witnesses = [c.witness_verifier for c in roster.custodians if c.name != client.name]
    cosigners = tuple(cosigned_by(signed, witnesses))
    if not cosigners:
        problems.append(
            f"{client.name}: checkpoint of size {signed.size} is cosigned by no other custodian"
        )
    datas: list[bytes] = []
    try:
        while len(datas) < signed.size:
            end = min(signed.size, len(datas) + PAGE)
            page = client.get("/v1/log/entries", start=len(datas), end=end)["entries"]
            datas.extend(b64decode(item, "log entry") for item in page)
    except ElsewhereError as error:
        problems.append(error.message)
    tree = merkle.MemoryTree(merkle.leaf_hash(d) for d in datas)
    if tree.size != signed.size or tree.root() != signed.root:
        problems.append(
            f"{client.name}: its entries do not give the root it signed for size {signed.size}"
        )
    return LogAudit(
        client.name, signed.size, cosigners, tuple(json.loads(d) for d in datas), tuple(problems)
    )


def audit(
    roster: Roster, party: str, clients: Sequence[CustodianClient], registry: Any = None
) -> AuditReport:
    if roster.party(party) is None:
        raise VerificationFailed(f"{party} is not a party of this commons")
    logs = [audit_log(roster, c) for c in clients]
    if registry is not None:
        logs.append(audit_control_plane(roster, registry))
    return AuditReport(party, tuple(logs))
