"""Monitor: remember the last checkpoint accepted for a log and refuse any later one that
cannot be true together with it.

Two validly signed checkpoints for one origin are a split view (proof the log showed
different histories) when they have the same size and different roots, or when the
consistency proof between them does not verify. The monitor reports both as evidence
and keeps the earlier one as its state.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from elsewhere.errors import InputError, ParseError, VerificationFailed
from elsewhere.ledger.checkpoint import LogKeys, SignedCheckpoint, open_checkpoint
from elsewhere.ledger.merkle import verify_consistency

Status = Literal["first", "unchanged", "advanced", "stale", "split"]
ProofSource = Callable[[int, int], Sequence[bytes]]


@dataclass(frozen=True)
class Verdict:
    status: Status
    latest: SignedCheckpoint
    previous: SignedCheckpoint | None
    reason: str

    @property
    def keep(self) -> SignedCheckpoint:
        """The checkpoint the monitor remembers after this verdict."""
        if self.status in ("first", "advanced") or self.previous is None:
            return self.latest
        return self.previous


def compare(
    previous: SignedCheckpoint | None,
    latest: SignedCheckpoint,
    proof: ProofSource | None,
) -> Verdict:
    """Judge `latest` against the checkpoint accepted before. Both must already be verified
    against the log's key. `proof(old, new)` supplies consistency proofs when sizes differ."""
    if previous is None:
        return Verdict("first", latest, None, f"first checkpoint seen, size {latest.size}")
    if previous.origin != latest.origin:
        raise InputError("monitor", "origin", f"{latest.origin!r} is not {previous.origin!r}")
    if previous.size == latest.size:
        if previous.root == latest.root:
            return Verdict("unchanged", latest, previous, f"still size {latest.size}")
        return Verdict(
            "split", latest, previous, f"two different root hashes for size {latest.size}"
        )
    older, newer = (previous, latest) if previous.size < latest.size else (latest, previous)
    if older.size == 0:
        hashes: Sequence[bytes] = ()
    elif proof is None:
        raise InputError(
            "monitor",
            f"sizes {older.size}→{newer.size}",
            "a consistency proof is needed (give --proof or --log)",
        )
    else:
        hashes = proof(older.size, newer.size)
    if older.size > 0:
        try:
            verify_consistency(older.size, newer.size, older.root, newer.root, hashes)
        except VerificationFailed as error:
            return Verdict("split", latest, previous, error.message)
    if latest is newer:
        return Verdict("advanced", latest, previous, f"size {older.size} → {newer.size}")
    return Verdict("stale", latest, previous, f"older size {latest.size}, consistent")


def split_report(verdict: Verdict) -> str:
    """The evidence of a split view, for people and for anyone who checks it later."""
    assert verdict.previous is not None
    origin = verdict.latest.origin
    return (
        f"SPLIT VIEW: log {origin!r} signed two checkpoints that cannot both be true.\n"
        f"reason: {verdict.reason}\n"
        "Both are validly signed by the log's key; keep them as evidence.\n"
        f"--- accepted earlier (size {verdict.previous.size}) ---\n"
        f"{verdict.previous.to_bytes().decode()}"
        f"--- seen now (size {verdict.latest.size}) ---\n"
        f"{verdict.latest.to_bytes().decode()}"
        "--- end of evidence ---\n"
    )


def load_state(path: Path, key: LogKeys, origin: str | None = None) -> SignedCheckpoint | None:
    """The checkpoint accepted last time, re-verified (the state file is not trusted)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ParseError("monitor state", str(path), f"unreadable: {error}") from None
    if not isinstance(document, dict) or not isinstance(document.get("checkpoint"), str):
        raise ParseError("monitor state", str(path), "expected {'checkpoint': <signed note>}")
    return open_checkpoint(document["checkpoint"].encode(), key, origin=origin)


def save_state(path: Path, checkpoint: SignedCheckpoint) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "origin": checkpoint.origin,
        "size": checkpoint.size,
        "checkpoint": checkpoint.to_bytes().decode(),
    }
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=1)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
