"""The Ledger: append entries, sign checkpoints, hand out proofs and offline bundles.

    ledger = Ledger.open("sqlite:///elsewhere.db", key_path, "example.com/elsewhere")
    index = ledger.append(AttestationDecision(...).to_entry())
    signed = ledger.checkpoint()
    bundle = ledger.bundle(index)        # give this to anyone; they need only the vkey

Inside the caller's transaction ("state change + ledger entry", atomically):

    with engine.begin() as conn:
        conn.execute(...)                               # the state change
        ledger.append(entry, connection=conn)           # sequenced under the same commit
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from elsewhere.db import make_engine, upgrade
from elsewhere.errors import ConfigError, InputError, VerificationFailed
from elsewhere.ledger import merkle
from elsewhere.ledger.bundle import Bundle
from elsewhere.ledger.canonical import canonical_bytes, parse_entry_bytes
from elsewhere.ledger.checkpoint import (
    Checkpoint,
    SignedCheckpoint,
    open_checkpoint,
    parse_signed_checkpoint,
    sign_checkpoint,
)
from elsewhere.ledger.keyfile import load_key_file
from elsewhere.ledger.merkle import NodeId
from elsewhere.ledger.note import COSIGNATURE_V1, Signer, Verifier, verify_note
from elsewhere.ledger.store import LedgerCorrupt, State, Store


class HasToEntry(Protocol):
    def to_entry(self) -> dict[str, Any]: ...


EntryLike = Mapping[str, Any] | HasToEntry


def encode_entry(entry: EntryLike) -> tuple[bytes, str | None]:
    """Canonical bytes and kind of an entry given as a dict or a typed record."""
    value = entry.to_entry() if hasattr(entry, "to_entry") else entry
    if not isinstance(value, Mapping):
        raise InputError("ledger entry", "", "must be a JSON object")
    data = canonical_bytes(value)
    kind = value.get("kind")
    return data, kind[:64] if isinstance(kind, str) else None


class Ledger:
    def __init__(self, engine: Engine, origin: str, signer: Signer | None) -> None:
        self.engine = engine
        self.store = Store(engine)
        self.origin = origin
        self.signer = signer

    @classmethod
    def open(
        cls,
        url: str,
        key_path: Path | str | None = None,
        origin: str | None = None,
        *,
        engine: Engine | None = None,
        migrate: bool = True,
    ) -> Ledger:
        """Open (creating the tables and the log's state on first use) the log at `url`.

        The signing key's name must be the origin; without a key the ledger can append and
        prove, but not sign checkpoints."""
        signer = load_key_file(Path(key_path)) if key_path is not None else None
        if signer is not None and origin is not None and signer.name != origin:
            raise ConfigError("ledger", "origin", f"{origin!r} is not the key's name")
        if migrate:
            upgrade(url)
        engine = engine if engine is not None else make_engine(url)
        wanted = origin or (signer.name if signer else None)
        try:
            with engine.connect() as conn:
                state = Store.state(conn)
        except DBAPIError as error:
            why = (str(error.orig).strip().splitlines() or ["unknown error"])[0]
            raise ConfigError(
                "ledger", url, f"cannot read the log ({why}); a new log needs `ledger init`"
            ) from None
        if state is None:
            if wanted is None:
                raise ConfigError("ledger", url, "no log here yet; give an origin to create one")
            state = Store(engine).ensure_state(wanted)
        if wanted is not None and state.origin != wanted:
            raise ConfigError("ledger", "origin", f"this log is {state.origin!r}, not {wanted!r}")
        return cls(engine, state.origin, signer)

    def close(self) -> None:
        self.engine.dispose()

    @property
    def verifier(self) -> Verifier:
        if self.signer is None:
            raise ConfigError("ledger", "signing key", "not loaded")
        return self.signer.verifier

    # --- appending -------------------------------------------------------------------

    def append(self, entry: EntryLike, *, connection: Connection | None = None) -> int:
        return self.append_many([entry], connection=connection)[0]

    def append_many(
        self, entries: Iterable[EntryLike], *, connection: Connection | None = None
    ) -> list[int]:
        """Append entries as one batch; the indexes are final once the transaction commits.

        With `connection`, the batch joins the caller's open transaction and is neither
        committed nor durable until the caller commits."""
        encoded = [encode_entry(entry) for entry in entries]
        return self.append_canonical(
            [data for data, _ in encoded], [kind for _, kind in encoded], connection=connection
        )

    def append_canonical(
        self,
        datas: Sequence[bytes],
        kinds: Sequence[str | None] | None = None,
        *,
        connection: Connection | None = None,
    ) -> list[int]:
        """Append entries that are already RFC 8785 bytes (bulk loads; no re-encoding)."""
        kinds = kinds if kinds is not None else [None] * len(datas)
        if connection is not None:
            first = self.store.append(connection, datas, kinds)
        else:
            with self.engine.begin() as conn:
                first = self.store.append(conn, datas, kinds)
        return list(range(first, first + len(datas)))

    # --- reading ---------------------------------------------------------------------

    def state(self) -> State:
        with self.engine.connect() as conn:
            state = Store.state(conn)
        assert state is not None  # created by open()
        return state

    @property
    def size(self) -> int:
        return self.state().size

    def entry_bytes(self, index: int) -> bytes:
        with self.engine.connect() as conn:
            return Store.entries(conn, index, index + 1)[0]

    def entries_bytes(self, start: int, end: int) -> list[bytes]:
        """Canonical bytes of entries [start, end), in one query."""
        with self.engine.connect() as conn:
            return Store.entries(conn, start, end)

    def entry(self, index: int) -> dict[str, Any]:
        return parse_entry_bytes(self.entry_bytes(index), f"entry {index}")

    def reader(self, size: int) -> merkle.NodeReader:
        """Node reads for proofs in the tree of `size`, which must be committed."""

        def read(nodes: set[NodeId]) -> dict[NodeId, bytes]:
            with self.engine.connect() as conn:
                state = Store.state(conn)
                if state is None or size > state.size:
                    have = 0 if state is None else state.size
                    raise InputError("ledger", f"size {size}", f"the log has only {have} entries")
                return Store.read_nodes(conn, nodes)

        return read

    def root(self, size: int | None = None) -> bytes:
        size = self.size if size is None else size
        return merkle.root_at(size, self.reader(size))

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        size = self.size if size is None else size
        return merkle.prove_inclusion(index, size, self.reader(size))

    def consistency_proof(self, old: int, new: int | None = None) -> list[bytes]:
        new = self.size if new is None else new
        return merkle.prove_consistency(old, new, self.reader(new))

    # --- checkpoints -----------------------------------------------------------------

    def checkpoint(self) -> SignedCheckpoint:
        """Sign the committed tree. Refuses to sign a root that is not consistent with the
        last checkpoint this log signed, or that its own stored nodes do not reproduce."""
        if self.signer is None:
            raise ConfigError("ledger", "signing key", "needed to sign a checkpoint")
        with self.engine.begin() as conn:
            state = Store.lock(conn)
            read = lambda nodes: Store.read_nodes(conn, nodes)  # noqa: E731
            if merkle.root_at(state.size, read) != state.root:
                raise LedgerCorrupt(f"ledger: stored nodes do not give the root of {state.size}")
            existing = Store.checkpoint_at(conn, state.size)
            if existing is not None:
                if existing.root != state.root:
                    raise LedgerCorrupt(f"ledger: size {state.size} was signed with another root")
                return parse_signed_checkpoint(existing.note)
            last = Store.latest_checkpoint(conn, below=state.size)
            if last is not None and last.size > 0:
                proof = merkle.prove_consistency(last.size, state.size, read)
                try:
                    merkle.verify_consistency(last.size, state.size, last.root, state.root, proof)
                except VerificationFailed as error:
                    raise LedgerCorrupt(
                        f"ledger: refusing to sign size {state.size}: {error.message}"
                    ) from None
            signed = sign_checkpoint(Checkpoint(self.origin, state.size, state.root), self.signer)
            Store.save_checkpoint(conn, state.size, state.root, signed.to_bytes())
        return signed

    def add_cosignatures(self, data: bytes, witnesses: Sequence[Verifier]) -> SignedCheckpoint:
        """Keep witness cosignatures with the checkpoint this log signed, so later bundles
        carry them. Only lines that verify under one of `witnesses` are kept."""
        signed = open_checkpoint(data, self.verifier)
        cosigners = [w for w in witnesses if w.key_type == COSIGNATURE_V1]
        good = {(v.name, v.key_id) for v in verify_note(signed.note, cosigners, require_one=False)}
        with self.engine.begin() as conn:
            Store.lock(conn)
            stored = Store.checkpoint_at(conn, signed.size)
            if stored is None or stored.root != signed.root:
                raise InputError("cosigned checkpoint", f"size {signed.size}", "not one we signed")
            mine = parse_signed_checkpoint(stored.note)
            if mine.note.text != signed.note.text:
                raise InputError("cosigned checkpoint", f"size {signed.size}", "text differs")
            new = tuple(
                s
                for s in signed.note.signatures
                if (s.name, s.key_id) in good and s not in mine.note.signatures
            )
            merged = SignedCheckpoint(mine.checkpoint, mine.note.add(*new))
            Store.update_checkpoint_note(conn, signed.size, merged.to_bytes())
        return merged

    def latest_checkpoint(self) -> SignedCheckpoint | None:
        with self.engine.connect() as conn:
            stored = Store.latest_checkpoint(conn)
        return None if stored is None else parse_signed_checkpoint(stored.note)

    def checkpoints(self) -> list[SignedCheckpoint]:
        with self.engine.connect() as conn:
            return [parse_signed_checkpoint(c.note) for c in Store.all_checkpoints(conn)]

    def bundle(self, index: int, checkpoint: SignedCheckpoint | None = None) -> bytes:
        """An offline proof (c2sp tlog-proof) that entry `index` is in a signed checkpoint:
        the given one, else the latest, signing a new one when that does not cover it."""
        signed = checkpoint or self.latest_checkpoint()
        if checkpoint is None and (signed is None or signed.size <= index):
            if self.signer is None:
                raise InputError("ledger", f"entry {index}", "no signed checkpoint covers it")
            signed = self.checkpoint()
        assert signed is not None
        if not 0 <= index < signed.size:
            raise InputError("ledger", f"entry {index}", f"not in the log of {signed.size}")
        proof = self.inclusion_proof(index, signed.size)
        data = self.entry_bytes(index)
        # Never hand out a bundle that would not verify (e.g. a checkpoint of another log).
        merkle.verify_inclusion(index, signed.size, merkle.leaf_hash(data), proof, signed.root)
        return Bundle(index, tuple(proof), signed, data).to_bytes()

    def audit(self) -> int:
        """Recompute every stored hash from the entries: O(n). Returns the size checked."""
        state = self.state()
        with self.engine.connect() as conn:
            datas = Store.entries(conn, 0, state.size)
            new, border = merkle.extend(0, [], [merkle.leaf_hash(d) for d in datas])
            nodes = Store.read_all_hashes(conn, merkle.stored_count(state.size))
        for (key, computed), stored in zip(new, nodes, strict=False):
            if computed != stored:
                raise LedgerCorrupt(f"ledger: stored hash {key} does not match the entries")
        if len(nodes) != len(new):
            raise LedgerCorrupt(f"ledger: {len(nodes)} hashes stored, {len(new)} expected")
        if merkle.fold_border(border) != state.root:
            raise LedgerCorrupt("ledger: the state's root does not match the entries")
        return state.size
