"""The custodian's log as others read it, and its work as a C2SP witness of the others' logs.

A witness cosigns a custodian's checkpoint only when it is consistent (RFC 9162 proof) with
the last one it cosigned for that log; two different roots for one size, or a smaller tree,
are a split view and refused. A party's audit then accepts a custodian's history only with
cosignatures of other custodians: a custodian that shows one party a history the witnesses
did not see is exposed."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select, update

from elsewhere.commons.canon import field
from elsewhere.control.store.transactions import read, write
from elsewhere.custodian import tables as t
from elsewhere.custodian.service import Custodian
from elsewhere.errors import Conflict, InputError, NotFound
from elsewhere.ledger import merkle
from elsewhere.ledger.checkpoint import open_checkpoint
from elsewhere.ledger.note import b64decode, b64encode

MAX_ENTRIES = 1000


def checkpoint(c: Custodian) -> dict[str, Any]:
    """A checkpoint of the log now (signed if new), with the cosignatures it collected."""
    signed = c.ledger.checkpoint()
    stored = c.ledger.latest_checkpoint() or signed
    return {"size": stored.size, "note": stored.to_bytes().decode()}


def entries(c: Custodian, start: int, end: int) -> dict[str, Any]:
    size = c.ledger.size
    if not 0 <= start <= end <= size or end - start > MAX_ENTRIES:
        raise InputError(
            "log entries", f"{start}..{end}", f"out of 0..{size} or over {MAX_ENTRIES}"
        )
    return {"entries": [b64encode(d) for d in c.ledger.entries_bytes(start, end)]}


def consistency(c: Custodian, old: int, new: int) -> dict[str, Any]:
    if not 0 <= old <= new <= c.ledger.size:
        raise InputError("consistency proof", f"{old}..{new}", f"out of 0..{c.ledger.size}")
    return {"proof": [b64encode(h) for h in c.ledger.consistency_proof(old, new)]}


def witnessed(c: Custodian, origin: str) -> dict[str, Any]:
    with read(c.engine) as conn:
        row = conn.execute(select(t.witnessed).where(t.witnessed.c.origin == origin)).first()
    return {"origin": origin, "size": 0 if row is None else row.size}


def cosign(c: Custodian, doc: Mapping[str, Any]) -> dict[str, Any]:
    """Cosign another custodian's checkpoint after checking it extends what we saw."""
    what = "witness request"
    name = field(doc, what, "custodian", str)
    log_key = c.config.roster.log_verifier(name)
    if log_key is None or name == c.config.name:
        raise NotFound(f"{name!r} is not another log of this commons")
    note = field(doc, what, "note", str).encode()
    signed = open_checkpoint(note, log_key)
    proof = [b64decode(h, what, "proof") for h in field(doc, what, "proof", list)]
    with write(c.engine) as conn:  # the state is kept by the log's roster name
        row = conn.execute(select(t.witnessed).where(t.witnessed.c.origin == name)).first()
        if row is not None:
            if signed.size < row.size:
                raise Conflict(
                    f"{name}: checkpoint of size {signed.size} is older than {row.size} "
                    "(rollback refused)"
                )
            if signed.size == row.size and signed.root != row.root:
                raise Conflict(
                    f"{name}: split view — another root for size {row.size} than the one cosigned"
                )
            if signed.size > row.size and row.size > 0:
                merkle.verify_consistency(row.size, signed.size, row.root, signed.root, proof)
            conn.execute(
                update(t.witnessed)
                .where(t.witnessed.c.origin == name)
                .values(size=signed.size, root=signed.root)
            )
        else:
            conn.execute(
                t.witnessed.insert().values(origin=name, size=signed.size, root=signed.root)
            )
    cosigned = signed.cosign(c.config.witness, int(time.time()))
    return {"note": cosigned.to_bytes().decode()}


def keep_cosignatures(c: Custodian, doc: Mapping[str, Any]) -> dict[str, Any]:
    """Store cosignatures of our own checkpoint, from the roster's witness keys only."""
    note = field(doc, "cosigned checkpoint", "note", str).encode()
    witnesses = [p.witness_verifier for p in c.config.roster.custodians if p.name != c.config.name]
    merged = c.ledger.add_cosignatures(note, witnesses)
    return {"size": merged.size, "signatures": len(merged.note.signatures)}
