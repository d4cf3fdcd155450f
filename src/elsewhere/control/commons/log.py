"""The control plane's ledger as the commons sees it: checkpoints for the custodians to
witness, the cosignatures they return, and inclusion proofs of every commons entry (only
those: the other entries concern tenants, not the commons)."""

from __future__ import annotations

import base64
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from elsewhere.commons.roster import Roster
from elsewhere.errors import InputError
from elsewhere.ledger.log import Ledger
from elsewhere.ledger.note import b64encode
from elsewhere.ledger.schema import ledger_entries

MAX_BUNDLES = 500


def checkpoint(ledger: Ledger) -> dict[str, Any]:
    ledger.checkpoint()
    latest = ledger.latest_checkpoint()
    assert latest is not None  # just signed
    return {"size": latest.size, "note": latest.to_bytes().decode(), "vkey": ledger.verifier.vkey()}


def consistency(ledger: Ledger, old: int, new: int) -> dict[str, Any]:
    if not 0 <= old <= new <= ledger.size:
        raise InputError("consistency proof", f"{old}..{new}", f"out of 0..{ledger.size}")
    return {"proof": [b64encode(h) for h in ledger.consistency_proof(old, new)]}


def add_cosignatures(ledger: Ledger, commons: Roster, note: str) -> dict[str, Any]:
    """Keep the custodians' cosignatures (only lines under their roster witness keys)."""
    witnesses = [c.witness_verifier for c in commons.custodians]
    merged = ledger.add_cosignatures(note.encode(), witnesses)
    return {"size": merged.size, "signatures": len(merged.note.signatures)}


def bundles(conn: Connection, ledger: Ledger, start: int) -> dict[str, Any]:
    """Inclusion proofs of the commons entries from `start`, against the latest checkpoint."""
    if start < 0:
        raise InputError("commons log bundles", "start", "must not be negative")
    latest = ledger.latest_checkpoint()
    if latest is None or start >= latest.size:  # nothing from there (and no 64-bit overflow)
        return {"size": 0 if latest is None else latest.size, "bundles": []}
    rows = conn.execute(
        select(ledger_entries.c.idx)
        .where(
            ledger_entries.c.kind.like("commons.%"),
            ledger_entries.c.idx >= start,
            ledger_entries.c.idx < latest.size,
        )
        .order_by(ledger_entries.c.idx)
        .limit(MAX_BUNDLES)
    ).all()
    return {
        "size": latest.size,
        "bundles": [base64.b64encode(ledger.bundle(r.idx, latest)).decode() for r in rows],
    }
