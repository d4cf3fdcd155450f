"""The ledger as anyone reads it, without a token (c2sp.org/tlog-tiles): the log's keys, its
latest signed checkpoint, tiles and entry bundles read from the stored tree, and consistency
proofs. Everything here is public by design: a log that only its operator can read proves
nothing to anyone else. Entries hold identifiers, digests and verdicts, never a secret.
"""

from __future__ import annotations

from dataclasses import dataclass

from elsewhere.control.config import ControlPlane
from elsewhere.control.store.transactions import read
from elsewhere.errors import InputError, NotFound
from elsewhere.i18n import N_
from elsewhere.ledger import tiles
from elsewhere.ledger.note import b64encode
from elsewhere.ledger.store import Store


def key_lines(cp: ControlPlane) -> str:
    """Every key that signs (or signed) this log's checkpoints, one vkey per line, the
    current one first: the one format `--key` reads."""
    keys = cp.ledger_vkeys or (cp.ledger.verifier.vkey(),)
    return "".join(key + "\n" for key in keys)


def checkpoint(cp: ControlPlane) -> bytes:
    with read(cp.engine) as conn:
        latest = Store.latest_checkpoint(conn)
    if latest is None:
        raise NotFound(N_("signed checkpoint"))
    return latest.note


@dataclass(frozen=True)
class Tile:
    data: bytes
    full: bool  # a full tile never changes; a partial one may stop being served


def tile(cp: ControlPlane, path: str) -> Tile:
    """Tile or entry bundle `path` (after `tile/`), once the committed tree holds all of it."""
    ref = tiles.parse_tile_path(path)
    with read(cp.engine) as conn:
        state = Store.state(conn)
        size = 0 if state is None else state.size
        if not ref.exists_in(size):
            raise NotFound(N_("tile"))
        if ref.level is None:
            first = ref.index * tiles.WIDTH
            data = tiles.encode_entry_bundle(Store.entries(conn, first, first + ref.width))
        else:
            data = tiles.tile_hashes(ref, lambda nodes: Store.read_nodes(conn, nodes))
    return Tile(data, ref.full)


def _size(text: str | None, name: str) -> int | None:
    if text is None:
        return None
    if not (text.isascii() and text.isdigit()) or text != str(int(text)):
        raise InputError("consistency proof", name, N_("must be a decimal tree size"))
    return int(text)


def consistency(cp: ControlPlane, old_text: str | None, new_text: str | None) -> str:
    """The RFC 9162 consistency proof from tree size `old` to `new` (default: the latest
    checkpoint's size), one base64 hash per line (as in tlog-witness requests)."""
    old, new = _size(old_text, "old"), _size(new_text, "new")
    if old is None:
        raise InputError("consistency proof", "old", N_("missing (?old=SIZE)"))
    if new is None:
        with read(cp.engine) as conn:
            latest = Store.latest_checkpoint(conn)
        if latest is None:
            raise NotFound(N_("signed checkpoint"))
        new = latest.size
    if old > new:
        raise InputError("consistency proof", f"{old}..{new}", N_("old is larger than new"))
    size = cp.ledger.size
    if new > size:
        raise NotFound(N_("tree size"))
    if old == 0:
        return ""  # the empty tree is a prefix of every tree: nothing to prove
    return "".join(b64encode(h) + "\n" for h in cp.ledger.consistency_proof(old, new))
