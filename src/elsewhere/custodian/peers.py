"""A custodian's peers: the other custodians of the roster, reached over TLS.

Two things travel between custodians, both only transport for what parties signed:

- a veto, forwarded unchanged (the party's own signed document) to every peer, retried in a
  background thread until each acknowledges or the bound is reached (`Forwarder`);
- a veto query before a release: each peer answers with the vetoes it recorded for the
  proposal, in a signed note under its log key over a fresh challenge (`ask_peers`), so an
  answer cannot be replayed, made up by the network, or stripped of a veto.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select, update

from elsewhere.commons.canon import canonical_bytes
from elsewhere.commons.client import CustodianClient, CustodianDown
from elsewhere.commons.proposals import Decision, Proposal, Verb, check_decision
from elsewhere.commons.roster import Roster
from elsewhere.commons.wire import VETO_ANSWER_ORIGIN
from elsewhere.control.store.transactions import read, write
from elsewhere.custodian import tables as t
from elsewhere.errors import ElsewhereError, InputError
from elsewhere.ledger.note import Signer, parse_note, sign_note, verify_note
from elsewhere.timeutil import utcnow

log = logging.getLogger("elsewhere.custodian.peers")

QUERY_TIMEOUT_S = 5.0
FORWARD_MAX_ATTEMPTS = 720  # about an hour at the 5 s backoff cap
FORWARD_BACKOFF_CAP_S = 5.0


def answer_text(custodian: str, proposal: Proposal, challenge: bytes, vetoes: Sequence[Any]) -> str:
    """The signed part of a veto answer: who answers, for which proposal and challenge, and
    the digest of the veto documents it returns (so none can be stripped in transit)."""
    listed = hashlib.sha256(canonical_bytes({"vetoes": list(vetoes)})).hexdigest()
    return (
        f"{VETO_ANSWER_ORIGIN}\n{custodian}\n{proposal.id}\n{proposal.digest.hex()}\n"
        f"{challenge.hex()}\n{listed}\n"
    )


def answer_query(
    engine: Engine, name: str, signer: Signer, proposal: Proposal, challenge: bytes
) -> dict[str, Any]:
    with read(engine) as conn:
        vetoes = [
            json.loads(r.decision)
            for r in conn.execute(
                select(t.vetoes.c.decision)
                .where(t.vetoes.c.proposal_id == proposal.id)
                .order_by(t.vetoes.c.party)
            )
        ]
    note = sign_note(answer_text(name, proposal, challenge, vetoes), signer)
    return {"custodian": name, "vetoes": vetoes, "note": note.to_bytes().decode()}


@dataclass(frozen=True)
class PeerCheck:
    """What the peers said before a release: who answered (signed, fresh), the vetoes they
    hold that verify under the roster, and why the others were not counted."""

    heard: tuple[str, ...]
    vetoes: tuple[tuple[str, Decision], ...]  # (peer that held it, the party's veto)
    unheard: tuple[str, ...]


class Peers:
    def __init__(self, name: str, roster: Roster, ca_file: Path | None) -> None:
        self.name = name
        self.roster = roster
        self._ca = ca_file
        self._lock = threading.Lock()
        self._clients: dict[str, CustodianClient] = {}

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.roster.custodians if c.name != self.name]

    def client(self, peer: str) -> CustodianClient:
        with self._lock:
            if peer not in self._clients:
                custodian = self.roster.custodian(peer)
                if custodian is None:
                    raise InputError("peer", peer, "not a custodian of this roster")
                self._clients[peer] = CustodianClient(
                    peer, custodian.url, self._ca, keep_alive=False
                )
            return self._clients[peer]

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()

    def ask(self, proposal: Proposal) -> PeerCheck:
        """Ask every peer at once; wait for each (bounded); keep only signed, fresh answers."""
        challenge = os.urandom(32)
        names = self.names
        if not names:
            return PeerCheck((), (), ())
        with ThreadPoolExecutor(max_workers=len(names)) as pool:
            answers = list(pool.map(lambda p: self._ask_one(p, proposal, challenge), names))
        heard: list[str] = []
        unheard: list[str] = []
        vetoes: list[tuple[str, Decision]] = []
        for peer, (found, why) in zip(names, answers, strict=True):
            if why is not None:
                unheard.append(f"{peer}: {why}")
                continue
            heard.append(peer)
            vetoes.extend((peer, d) for d in found)
        return PeerCheck(tuple(heard), tuple(vetoes), tuple(unheard))

    def _ask_one(
        self, peer: str, proposal: Proposal, challenge: bytes
    ) -> tuple[list[Decision], str | None]:
        doc = {"proposal": proposal.to_json(), "challenge": challenge.hex()}
        try:
            answer = self.client(peer).post("/v1/vetoes/query", doc, timeout=QUERY_TIMEOUT_S)
            vetoes = answer["vetoes"]
            note = parse_note(str(answer["note"]).encode(), f"veto answer of {peer}")
            verifier = self.roster.log_verifier(peer)
            assert verifier is not None  # a roster custodian
            verify_note(note, [verifier])
            if note.text != answer_text(peer, proposal, challenge, vetoes):
                return [], "its signed answer does not match this query or its vetoes"
            decisions = [Decision.from_json(v) for v in vetoes]
        except CustodianDown as error:
            return [], error.message.split(": ", 1)[-1]
        except ElsewhereError as error:  # VerificationFailed, ParseError, a refusal
            return [], f"answer refused: {error.message}"
        except (KeyError, TypeError, AttributeError):
            return [], "answer malformed"
        valid = []
        for decision in decisions:
            # The peer is only transport: the party's signature is checked here, again.
            why = check_decision(self.roster, decision, proposal.digest)
            if decision.verb is Verb.VETO and why is None:
                valid.append(decision)
            elif why is not None:
                log.warning("veto answer of %s: not counted: %s", peer, why)
        return valid, None


class Forwarder:
    """Sends each recorded veto to every peer until it acknowledges (custodian_forwards)."""

    def __init__(self, engine: Engine, peers: Peers, sleep_floor_s: float = 0.25) -> None:
        self._engine = engine
        self._peers = peers
        self._floor = sleep_floor_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="veto-forwarder", daemon=True)
        self._next: dict[tuple[str, str, str], float] = {}

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=10)

    def wake(self) -> None:
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                delay = self._round(time.monotonic)
            except Exception:  # keep forwarding whatever one round met; say what it was
                log.exception("veto forwarding round failed")
                delay = FORWARD_BACKOFF_CAP_S
            self._wake.wait(timeout=delay)

    def _round(self, clock: Callable[[], float]) -> float:
        with read(self._engine) as conn:
            rows = conn.execute(select(t.forwards).where(t.forwards.c.state == "pending")).all()
        delay = FORWARD_BACKOFF_CAP_S
        for row in rows:
            key = (row.proposal_id, row.party, row.peer)
            due = self._next.get(key, 0.0) - clock()
            if due > 0:
                delay = min(delay, due)
                continue
            doc = json.loads(row.veto)
            state, error = "done", None
            try:
                self._peers.client(row.peer).post(
                    "/v1/vetoes/forwarded",
                    {"from": self._peers.name, "veto": doc},
                    timeout=QUERY_TIMEOUT_S,  # a silent peer must not hold up the others
                )
            except CustodianDown as down:
                state, error = "pending", down.message
            except ElsewhereError as refused:  # the peer checked and said no: do not insist
                state, error = "failed", refused.message
            attempts = row.attempts + 1
            if state == "pending" and attempts >= FORWARD_MAX_ATTEMPTS:
                state = "failed"
            backoff = min(FORWARD_BACKOFF_CAP_S, self._floor * 2 ** min(attempts, 8))
            self._next[key] = clock() + backoff
            if state == "pending":
                delay = min(delay, backoff)
            self._mark(row, state, attempts, error)
        return delay

    def _mark(self, row: Any, state: str, attempts: int, error: str | None) -> None:
        with write(self._engine) as conn:
            conn.execute(
                update(t.forwards)
                .where(
                    t.forwards.c.proposal_id == row.proposal_id,
                    t.forwards.c.party == row.party,
                    t.forwards.c.peer == row.peer,
                )
                .values(state=state, attempts=attempts, last_error=error, updated_at=utcnow())
            )
        what = f"veto of {row.party} on {row.proposal_id} to {row.peer}"
        if state == "done":
            log.info("%s: acknowledged after %d attempt(s)", what, attempts)
        elif state == "failed":
            log.error("%s: given up after %d attempt(s): %s", what, attempts, error)
        elif attempts == 1 or attempts % 60 == 0:
            log.warning("%s: not acknowledged yet (%d attempts): %s", what, attempts, error)
