"""SQLAlchemy storage of the tree: entries, complete-subtree hashes, state and checkpoints.

Appends are sequenced by the single ledger_state row: the first statement of every append
updates that row, which takes the write lock on SQLite and a row lock on PostgreSQL before
anything is read, so concurrent appenders queue instead of deadlocking. An append is
durable when its transaction commits; the state row only ever names committed entries.

Each Store remembers the tree's border (the hashes an append extends) after its own appends.
The next append then moves the state row from the remembered (size, root) to the new one in
its first statement, which succeeds only if the committed row still holds exactly that size and
root (nobody else appended, and our last append was not rolled back); otherwise it locks, reads
the state and the border, and appends as before. Three statements per append instead of six.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from elsewhere.errors import ElsewhereError
from elsewhere.ledger import merkle
from elsewhere.ledger.merkle import NodeId
from elsewhere.ledger.schema import (
    ledger_checkpoints,
    ledger_entries,
    ledger_hashes,
    ledger_state,
)
from elsewhere.timeutil import utcnow

STATE_ID = 1

# Built once: an append runs them in every release's transaction.
_LOCK = (
    update(ledger_state)
    .where(ledger_state.c.id == STATE_ID)
    .values(size=ledger_state.c.size)
    .returning(ledger_state.c.origin, ledger_state.c.size, ledger_state.c.root)
)
_MOVE = (
    update(ledger_state)
    .where(
        ledger_state.c.id == STATE_ID,
        ledger_state.c.size == bindparam("old_size"),
        ledger_state.c.root == bindparam("old_root"),
    )
    .values(size=bindparam("new_size"), root=bindparam("new_root"), updated_at=bindparam("at"))
)
_ENTRIES, _HASHES = insert(ledger_entries), insert(ledger_hashes)
_NODES = select(ledger_hashes.c.id, ledger_hashes.c.hash).where(
    ledger_hashes.c.id.in_(bindparam("ids", expanding=True))
)
_NODES_PER_STATEMENT = 500  # SQLite caps the parameters of one statement


@dataclass(frozen=True)
class _State:
    origin: str
    size: int
    root: bytes


class LedgerCorrupt(ElsewhereError):
    """The stored tree disagrees with itself or with a checkpoint the log signed."""


@dataclass(frozen=True)
class State:
    origin: str
    size: int
    root: bytes


@dataclass(frozen=True)
class StoredCheckpoint:
    size: int
    root: bytes
    note: bytes


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # (size, root, border) after this Store's last append; checked against the row.
        self._border: tuple[int, bytes, tuple[bytes, ...]] | None = None
        self._others_appended = False  # seen at the last append: lock first next time

    # --- state -----------------------------------------------------------------------

    def ensure_state(self, origin: str) -> State:
        """Create the log's state row unless it exists (another process may race us)."""
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(ledger_state).values(
                        id=STATE_ID,
                        origin=origin,
                        size=0,
                        root=merkle.EMPTY_ROOT,
                        updated_at=utcnow(),
                    )
                )
        except IntegrityError:
            pass  # created meanwhile: read it below
        with self.engine.connect() as conn:
            state = self.state(conn)
        assert state is not None
        return state

    @staticmethod
    def state(conn: Connection) -> State | None:
        row = conn.execute(
            select(ledger_state.c.origin, ledger_state.c.size, ledger_state.c.root).where(
                ledger_state.c.id == STATE_ID
            )
        ).first()
        return None if row is None else State(row.origin, int(row.size), bytes(row.root))

    @staticmethod
    def lock(conn: Connection) -> State:
        """Take the log's write lock inside `conn`'s transaction and read the state (one
        statement: UPDATE … RETURNING)."""
        found = conn.execute(_LOCK).first()
        row = None if found is None else _State(*found)
        if row is None:
            raise ElsewhereError("ledger: not initialised (run `elsewhere ledger init`)")
        return State(row.origin, int(row.size), bytes(row.root))

    # --- nodes -----------------------------------------------------------------------

    @staticmethod
    def read_nodes(conn: Connection, nodes: set[NodeId]) -> dict[NodeId, bytes]:
        if not nodes:
            return {}
        by_key = {merkle.stored_index(n.level, n.index): n for n in nodes}
        keys = list(by_key)
        rows: list[Any] = []
        for start in range(0, len(keys), _NODES_PER_STATEMENT):
            part = keys[start : start + _NODES_PER_STATEMENT]
            rows += conn.execute(_NODES, {"ids": part}).all()
        found = {by_key[int(key)]: bytes(value) for key, value in rows}
        if len(found) != len(nodes):
            missing = sorted(set(nodes) - set(found))[:3]
            raise LedgerCorrupt(f"ledger: stored tree is missing node hashes {missing}")
        return found

    # --- append ----------------------------------------------------------------------

    def append(self, conn: Connection, datas: Sequence[bytes], kinds: Sequence[str | None]) -> int:
        """Append canonical entries inside `conn`'s transaction; return the first index.
        The caller commits (or rolls back): nothing is visible or durable before that."""
        if not datas:
            return self.lock(conn).size
        leaves = [merkle.leaf_hash(data) for data in datas]
        remembered, moved = self._border, False
        if remembered is not None and not self._others_appended:
            first, old_root, kept = remembered
            new_nodes, new_border = merkle.extend(first, list(kept), leaves)
            new_root = merkle.fold_border(new_border)
            # Takes the lock and checks the committed state in one statement.
            moved = self._move(conn, first, old_root, first + len(datas), new_root)
        if not moved:
            # Another writer (a worker process) appended since this store's last append, or
            # did last time: lock first, then read the border only if it moved.
            state = self.lock(conn)
            first, old_root = state.size, state.root
            current = remembered is not None and remembered[:2] == (first, old_root)
            self._others_appended = not current
            if current and remembered is not None:
                border = list(remembered[2])
            else:
                border_ids = merkle.border_nodes(first)
                known = self.read_nodes(conn, set(border_ids))
                border = [known[n] for n in border_ids]
            new_nodes, new_border = merkle.extend(first, border, leaves)
            new_root = merkle.fold_border(new_border)
            if not self._move(conn, first, old_root, first + len(datas), new_root):
                raise LedgerCorrupt("ledger: the log grew while this append held its lock")
        # SQLAlchemy's executemany: pipelined by psycopg, a loop in C on SQLite.
        conn.execute(
            _ENTRIES,
            [
                {"idx": first + n, "kind": kind, "data": data}
                for n, (data, kind) in enumerate(zip(datas, kinds, strict=True))
            ],
        )
        conn.execute(_HASHES, [{"id": key, "hash": value} for key, value in new_nodes])
        # Remembered before the commit: if it rolls back, the row keeps the old size and the
        # next append's first statement finds no match and reads the state afresh.
        self._border = (first + len(datas), new_root, tuple(new_border))
        return first

    @staticmethod
    def _move(conn: Connection, size: int, root: bytes, new_size: int, new_root: bytes) -> bool:
        """Move the state row from (size, root) to (new_size, new_root); False if it held
        anything else."""
        moved = conn.execute(
            _MOVE,
            {
                "old_size": size,
                "old_root": root,
                "new_size": new_size,
                "new_root": new_root,
                "at": utcnow(),
            },
        )
        return int(moved.rowcount) == 1

    @staticmethod
    def read_all_hashes(conn: Connection, count: int) -> list[bytes]:
        rows = conn.execute(
            select(ledger_hashes.c.hash)
            .where(ledger_hashes.c.id < count)
            .order_by(ledger_hashes.c.id)
        ).all()
        return [bytes(row.hash) for row in rows]

    # --- entries ---------------------------------------------------------------------

    @staticmethod
    def entries(conn: Connection, start: int, end: int) -> list[bytes]:
        rows = conn.execute(
            select(ledger_entries.c.idx, ledger_entries.c.data)
            .where(ledger_entries.c.idx >= start, ledger_entries.c.idx < end)
            .order_by(ledger_entries.c.idx)
        ).all()
        if [int(row.idx) for row in rows] != list(range(start, end)):
            raise LedgerCorrupt(f"ledger: entries {start}..{end - 1} are not all stored")
        return [bytes(row.data) for row in rows]

    # --- checkpoints -----------------------------------------------------------------

    @staticmethod
    def checkpoint_at(conn: Connection, size: int) -> StoredCheckpoint | None:
        row = conn.execute(
            select(ledger_checkpoints).where(ledger_checkpoints.c.size == size)
        ).first()
        return None if row is None else _stored(row.size, row.root, row.note)

    @staticmethod
    def latest_checkpoint(conn: Connection, below: int | None = None) -> StoredCheckpoint | None:
        query = select(ledger_checkpoints).order_by(ledger_checkpoints.c.size.desc()).limit(1)
        if below is not None:
            query = query.where(ledger_checkpoints.c.size < below)
        row = conn.execute(query).first()
        return None if row is None else _stored(row.size, row.root, row.note)

    @staticmethod
    def save_checkpoint(conn: Connection, size: int, root: bytes, note: bytes) -> None:
        conn.execute(
            insert(ledger_checkpoints).values(
                size=size, root=root, note=note.decode(), created_at=utcnow()
            )
        )

    @staticmethod
    def update_checkpoint_note(conn: Connection, size: int, note: bytes) -> None:
        conn.execute(
            update(ledger_checkpoints)
            .where(ledger_checkpoints.c.size == size)
            .values(note=note.decode())
        )

    @staticmethod
    def all_checkpoints(conn: Connection) -> list[StoredCheckpoint]:
        rows = conn.execute(select(ledger_checkpoints).order_by(ledger_checkpoints.c.size)).all()
        return [_stored(row.size, row.root, row.note) for row in rows]


def _stored(size: int, root: bytes, note: str) -> StoredCheckpoint:
    return StoredCheckpoint(int(size), bytes(root), note.encode())
