"""The fault campaign's invariants, checked against the database and the ledger after each
fault (bench/faults.py, tests/test_faults_short.py). Each check returns one `Verdict`:
held or broken, with a one-line detail.

1. releases_in_ledger: every release a keep received is in the ledger at the index it was
   told, as the same entry (an accepted attestation decision over the digest of the exact
   evidence it sent, then one secret.release per secret to the keep key it bound).
2. nonce_once: no nonce was released twice: among the releases the keeps received, and
   among every release decision the database holds (the nonce from each decision's signed
   result token, `eat_nonce`).
3. ledger_audit: `elsewhere ledger audit` (rehash every entry against the stored tree).
4. checkpoints_consistent: every stored checkpoint verifies under the log key the replicas
   publish and is consistent with the previous one (RFC 9162 proof), every checkpoint an
   earlier check saw is still there, and the latest covers the whole log within a bound.
5. no_ack_lost: every acknowledged write is there: each secret a 201 answered is listed,
   each release received has its decision row at its ledger index.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import select

from cluster import CLI
from elsewhere.control.store.tables import decisions
from elsewhere.db import make_engine
from elsewhere.evidence.canonical import canonical_evidence
from elsewhere.ledger import merkle
from elsewhere.ledger.checkpoint import SignedCheckpoint, open_checkpoint
from elsewhere.ledger.entries import digest
from elsewhere.ledger.log import Ledger
from elsewhere.ledger.note import Verifier
from load import Tally


@dataclass(frozen=True)
class Verdict:
    name: str
    held: bool
    detail: str

    def line(self) -> str:
        return f"  {'held  ' if self.held else 'BROKEN'} {self.name}: {self.detail}"


def _eat_nonce(token: str) -> str:
    payload = token.split(".")[1]
    padded = payload + "=" * (-len(payload) % 4)
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(padded))
    return base64.urlsafe_b64decode(claims["eat_nonce"] + "==").hex()


def releases_in_ledger(ledger: Ledger, tally: Tally) -> Verdict:
    wrong: list[str] = []
    for receipt in tally.receipts:
        decision = ledger.entry(receipt.ledger_index)
        evidence = digest(canonical_evidence(receipt.evidence))
        if (
            decision.get("kind") != "attestation.decision"
            or decision.get("verdict") != "accepted"
            or decision.get("evidence_digest") != evidence
        ):
            got = f"{decision.get('kind')} {decision.get('verdict')}"
            wrong.append(f"{receipt.ledger_index}: {got}")
            continue
        for offset, _name in enumerate(receipt.secrets, start=1):
            release = ledger.entry(receipt.ledger_index + offset)
            if (
                release.get("kind") != "secret.release"
                or release.get("keep_key_digest") != receipt.keep_key_digest
                or release.get("evidence_digest") != evidence
            ):
                wrong.append(f"{receipt.ledger_index + offset}: not this keep's release")
    count = len(tally.receipts)
    if wrong:
        return Verdict("releases_in_ledger", False, f"{len(wrong)} of {count}: {wrong[:3]}")
    return Verdict("releases_in_ledger", True, f"all {count} releases received are at their index")


def nonce_once(url: str, tally: Tally) -> Verdict:
    received = Counter(r.nonce for r in tally.receipts)
    twice = [n for n, c in received.items() if c > 1]
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            tokens = conn.execute(
                select(decisions.c.token).where(
                    decisions.c.kind == "attest", decisions.c.action == "release"
                )
            ).scalars()
            stored = Counter(_eat_nonce(t) for t in tokens if t)
    finally:
        engine.dispose()
    twice_stored = [n for n, c in stored.items() if c > 1]
    if twice or twice_stored:
        detail = f"received twice: {twice[:3]}; released twice in the database: {twice_stored[:3]}"
        return Verdict("nonce_once", False, detail)
    detail = f"{len(received)} received and {len(stored)} stored releases, each nonce once"
    return Verdict("nonce_once", True, detail)


def ledger_audit(url: str) -> Verdict:
    done = subprocess.run(
        [sys.executable, "-c", CLI, "ledger", "audit", "--log", url],
        capture_output=True,
        text=True,
        timeout=300,
    )
    text = (done.stdout.strip() or done.stderr.strip()).splitlines()
    line = text[-1] if text else f"exit {done.returncode}"
    return Verdict("ledger_audit", done.returncode == 0, line)


def _open_any(signed: SignedCheckpoint, keys: list[Verifier]) -> bool:
    for key in keys:
        try:
            open_checkpoint(signed.to_bytes(), key)
        except Exception:  # VerificationFailed, or another key's origin
            continue
        return True
    return False


def checkpoints_consistent(
    ledger: Ledger, vkeys: list[str], seen: dict[int, bytes], cover_within: float = 20.0
) -> Verdict:
    """`seen` (size → root of every checkpoint earlier checks saw) is updated in place."""
    keys = [Verifier.parse(v) for v in vkeys]
    size = ledger.size
    deadline = time.monotonic() + cover_within
    while True:  # the signer signs after new entries, within a maintenance round or two
        latest = ledger.latest_checkpoint()
        if latest is not None and latest.size >= size:
            break
        if time.monotonic() > deadline:
            got = latest.size if latest else 0
            return Verdict(
                "checkpoints_consistent",
                False,
                f"no checkpoint covers size {size} after {cover_within:.0f} s (latest {got})",
            )
        time.sleep(0.2)
    stored = ledger.checkpoints()
    problems: list[str] = []
    by_size = {c.size: c.root for c in stored}
    for old_size, old_root in seen.items():
        if by_size.get(old_size) != old_root:
            problems.append(f"the checkpoint of size {old_size} seen earlier is gone or changed")
    previous: SignedCheckpoint | None = None
    for signed in stored:
        if not _open_any(signed, keys):
            problems.append(f"checkpoint {signed.size} does not verify under the published keys")
        if previous is not None and previous.size > 0:
            proof = ledger.consistency_proof(previous.size, signed.size)
            try:
                merkle.verify_consistency(
                    previous.size, signed.size, previous.root, signed.root, proof
                )
            except Exception as error:  # VerificationFailed
                problems.append(f"{previous.size}→{signed.size}: {error}")
        previous = signed
    if problems:
        return Verdict("checkpoints_consistent", False, "; ".join(problems[:3]))
    seen.update(by_size)
    detail = f"{len(stored)} checkpoints, each consistent with the previous; latest {size}"
    return Verdict("checkpoints_consistent", True, detail)


def no_ack_lost(url: str, replica_urls: list[str], tenant: str, tally: Tally) -> Verdict:
    listed: set[str] | None = None
    for base in replica_urls:
        try:
            answer = httpx.get(
                f"{base}/v1/secrets", headers={"Authorization": f"Bearer {tenant}"}, timeout=10
            )
        except httpx.HTTPError:
            continue
        if answer.status_code == 200:
            listed = {s["name"] for s in answer.json()}
            break
    if listed is None:
        return Verdict("no_ack_lost", False, "no replica answered GET /v1/secrets")
    lost = [name for name in tally.acked if name not in listed]
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            indexes = set(
                conn.execute(
                    select(decisions.c.ledger_index).where(decisions.c.action == "release")
                ).scalars()
            )
    finally:
        engine.dispose()
    missing = [r.ledger_index for r in tally.receipts if r.ledger_index not in indexes]
    if lost or missing:
        detail = f"secrets acknowledged but gone: {lost[:3]}; releases without a decision row: "
        return Verdict("no_ack_lost", False, detail + str(missing[:3]))
    detail = f"{len(tally.acked)} acknowledged secrets listed, {len(tally.receipts)} decision rows"
    return Verdict("no_ack_lost", True, detail)


def check_all(
    url: str, replica_urls: list[str], tenant: str, tally: Tally, seen: dict[int, bytes]
) -> list[Verdict]:
    vkeys: list[str] = []
    for base in replica_urls:
        try:
            # One C2SP vkey per line: every key that signed checkpoints, the current first.
            answer = httpx.get(f"{base}/v1/ledger/key", timeout=10)
            answer.raise_for_status()
            vkeys = [line for line in answer.text.splitlines() if line.strip()]
            break
        except httpx.HTTPError:
            continue
    ledger = Ledger.open(url, migrate=False)
    try:
        return [
            releases_in_ledger(ledger, tally),
            nonce_once(url, tally),
            ledger_audit(url),
            checkpoints_consistent(ledger, vkeys, seen),
            no_ack_lost(url, replica_urls, tenant, tally),
        ]
    finally:
        ledger.close()
