"""The control plane's commons registry over real HTTP on loopback, with the custodians as
TLS processes: parties publish ciphertexts, proposals and signed decisions through the
operator; the keep takes them from there; results come back sealed. Every write is a ledger
entry in the same transaction; the operator's database and keys open nothing (#18)."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest

from commons_world import EXAMPLE, PARTIES, world
from control_helpers import control_plane, database_url
from elsewhere.commons.audit import audit, witness_round
from elsewhere.commons.datasets import decrypt_dataset, encrypt_dataset
from elsewhere.commons.proposals import Decision, Proposal, Verb, sign_decision
from elsewhere.commons.registry_client import RegistryClient
from elsewhere.commons.roster import PartyKeys
from elsewhere.commons.session import EncryptedDataset, open_result, run_proposal
from elsewhere.commons.wire import SHARE_INFO, share_aad
from elsewhere.control.tenancy.auth import Kind
from elsewhere.crypto.hpke import PrivateKey, WrongRecipient
from elsewhere.errors import (
    Conflict,
    InputError,
    NotFound,
    Refused,
    Unauthenticated,
    VerificationFailed,
)
from elsewhere.ledger.checkpoint import Checkpoint, sign_checkpoint

__all__ = ["database_url"]  # the fixture: SQLite, then PostgreSQL


def test_registry_end_to_end(tmp_path: Path, database_url: str | None) -> None:
    with (
        control_plane(tmp_path, database_url) as env,
        world(tmp_path / "w", control_plane_log_key=env.cp.ledger.verifier.vkey()) as w,
    ):
        operator = RegistryClient(env.url, env.token(Kind.OPERATOR))
        anyone = RegistryClient(env.url)
        roster_doc = json.loads((w.local.root / "roster.json").read_text())
        with pytest.raises(Unauthenticated):
            anyone.put_roster(roster_doc)
        assert operator.put_roster(roster_doc)["roster_digest"] == w.local.roster.digest

        datasets = w.deposit("reg")
        for d in datasets:
            digest = "sha256:" + hashlib.sha256(d.ciphertext).hexdigest()
            anyone.publish(w.local.parties[d.owner], d.dataset_id, d.ciphertext, digest)
        with pytest.raises(Refused, match="not signed by"):
            anyone.publish(
                PartyKeys.generate("north"), "north-fake", b"x" * 40, "sha256:" + "0" * 64
            )
        with pytest.raises(Conflict):
            d = datasets[0]
            anyone.publish(
                w.local.parties[d.owner],
                d.dataset_id,
                d.ciphertext,
                "sha256:" + hashlib.sha256(d.ciphertext).hexdigest(),
            )

        p = w.proposal("reg-1", datasets, epsilon=0.1)
        parties = w.local.parties
        anyone.propose(p, sign_decision(parties["north"], Verb.APPROVE, p))
        with pytest.raises(InputError, match="proposer's approval"):
            anyone.propose(
                w.proposal("reg-2", datasets), sign_decision(parties["south"], Verb.APPROVE, p)
            )
        first = anyone.decide(sign_decision(parties["central"], Verb.APPROVE, p), p.id)
        again = anyone.decide(sign_decision(parties["central"], Verb.APPROVE, p), p.id)
        assert first["ledger_index"] is not None and again["ledger_index"] is None  # replay: once
        other = w.proposal("reg-other", datasets)
        with pytest.raises(Refused, match="another proposal digest"):
            anyone.decide(sign_decision(parties["south"], Verb.APPROVE, other), p.id)
        with pytest.raises(Refused, match="signature does not verify"):
            anyone.decide(sign_decision(PartyKeys.generate("south"), Verb.APPROVE, p), p.id)
        view = anyone.proposal(p.id)
        assert "dataset south-reg: its owner south has not approved" in view["refusals"]
        anyone.decide(sign_decision(parties["south"], Verb.APPROVE, p), p.id)
        view = anyone.proposal(p.id)
        assert view["refusals"] == [] and view["approvers"] == sorted(PARTIES)

        # the keep takes everything from the registry, nothing from the parties directly
        proposal = Proposal.from_json(view["proposal"])
        decisions = [Decision.from_json(d) for d in view["decisions"]]
        fetched = []
        for dataset_id in proposal.datasets:
            doc = anyone.dataset(dataset_id)
            fetched.append(
                EncryptedDataset(dataset_id, doc["owner"], base64.b64decode(doc["ciphertext"]))
            )
        result = run_proposal(
            w.local.roster, w.clients, proposal, decisions, fetched, w.module, w.genoa
        )
        with pytest.raises(InputError, match="does not match"):
            bad = type(result)(**{**result.__dict__, "result_digest": "sha256:" + "0" * 64})
            anyone.post_result(bad)
        anyone.post_result(result)
        with pytest.raises(Conflict):
            anyone.post_result(result)
        stored = anyone.result(p.id)
        opened = open_result(parties["central"], p, base64.b64decode(stored["sealed"]["central"]))
        assert opened["epsilon_spent"] == 0.1
        with pytest.raises(NotFound):
            anyone.result("nothing")

        # one ledger entry per change, and only for changes that happened
        kinds = [env.cp.ledger.entry(i).get("kind") for i in range(env.cp.ledger.size)]
        commons = [k for k in kinds if k and k.startswith("commons.")]
        assert commons.count("commons.dataset") == 3 and commons.count("commons.approve") == 3
        assert commons.count("commons.proposal") == 1 and commons.count("commons.result") == 1

        # the operator's database and keys open nothing
        plaintext = (EXAMPLE / "north.csv").read_bytes().splitlines()[1]
        if database_url is None:
            stored_bytes = b"".join(f.read_bytes() for f in (tmp_path / "cp").glob("*.db*"))
            assert stored_bytes and plaintext not in stored_bytes
        probe = encrypt_dataset(parties["north"], w.local.roster, "probe", plaintext, 0.0)
        operator_key = PrivateKey.generate()  # no key the operator holds is a custodian's
        with pytest.raises(WrongRecipient):
            operator_key.open(
                probe.deposits[0].wrapped_share, info=SHARE_INFO, aad=share_aad("probe", "cust-a")
            )
        with pytest.raises(VerificationFailed):  # nor is the control plane's KEK a data key
            decrypt_dataset(env.cp.kek.key, "north-reg", "north", datasets[0].ciphertext)

        # the custodians witness the control plane's log; each party audits both kinds of log
        assert witness_round(w.local.roster, w.clients, anyone) == []
        for name in PARTIES:
            report = audit(w.local.roster, name, w.clients, anyone)
            assert report.ok, report.to_json()
            control = report.logs[-1]
            assert control.custodian == "control-plane" and len(control.cosigners) == 3
            mine = report.mine(control)
            assert {"commons.dataset", "commons.approve", "commons.result"} <= {
                e["kind"] for e in mine
            }
        # the operator holds its log key: a second history of the same size is refused
        size = env.cp.ledger.latest_checkpoint().size  # type: ignore[union-attr]
        forged = sign_checkpoint(
            Checkpoint(env.cp.ledger.origin, size, b"\x01" * 32), env.cp.ledger.signer
        )  # type: ignore[arg-type]
        with pytest.raises(Conflict, match="split view"):
            w.clients[0].post(
                "/v1/witness",
                {"custodian": "control-plane", "note": forged.to_bytes().decode(), "proof": []},
            )
        operator.close()
        anyone.close()
