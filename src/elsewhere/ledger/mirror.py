"""Download a whole tlog-tiles log and check every byte of it against a signed checkpoint:
each entry hashes to its level-0 tile hash, the level-0 hashes give the checkpoint's root, and
each hash of a higher tile is the root of the full tile below it. What passes can be written as
a local tlog-tiles directory (checkpoint last), which `ledger monitor --log DIR` reads offline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from elsewhere.errors import VerificationFailed
from elsewhere.ledger import merkle
from elsewhere.ledger.checkpoint import LogKeys, SignedCheckpoint, open_checkpoint
from elsewhere.ledger.merkle import HASH_SIZE
from elsewhere.ledger.tiles import (
    WIDTH,
    TileLog,
    TileRef,
    parse_entry_bundle,
    tile_counts,
    write_file,
)


@dataclass(frozen=True)
class Mirrored:
    checkpoint: SignedCheckpoint
    files: int  # tiles and entry bundles fetched and checked


def _refs(level: int | None, full: int, partial: int) -> list[TileRef]:
    refs = [TileRef(level, index) for index in range(full)]
    return refs + ([TileRef(level, full, partial)] if partial else [])


def _split(data: bytes, ref: TileRef) -> list[bytes]:
    if len(data) != ref.width * HASH_SIZE:
        raise VerificationFailed(
            f"tile {ref.path()}: {len(data)} bytes, not {ref.width * HASH_SIZE}"
        )
    return [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]


def mirror(
    log: TileLog, keys: LogKeys, origin: str | None = None, out: Path | None = None
) -> Mirrored:
    """Fetch and check everything the log's current checkpoint covers; with `out`, write it."""
    note = log.checkpoint()
    signed = open_checkpoint(note, keys, origin=origin)
    files: dict[str, bytes] = {}
    counts = tile_counts(signed.size)
    below: Sequence[bytes] = []
    for level in sorted(counts):
        hashes: list[bytes] = []
        for ref in _refs(level, *counts[level]):
            data = log.get(ref.path())
            tile = _split(data, ref)
            start = ref.index * WIDTH
            if level == 0:
                entries_ref = TileRef(None, ref.index, ref.width)
                bundle = log.get(entries_ref.path())
                entries = parse_entry_bundle(bundle)
                if len(entries) != ref.width:
                    raise VerificationFailed(
                        f"entry bundle {entries_ref.path()}: {len(entries)} entries, "
                        f"not {ref.width}"
                    )
                for offset, (entry, leaf) in enumerate(zip(entries, tile, strict=True)):
                    if merkle.leaf_hash(entry) != leaf:
                        raise VerificationFailed(
                            f"entry {start + offset} does not hash to its level-0 tile hash"
                        )
                files[entries_ref.path()] = bundle
            else:
                for offset, value in enumerate(tile):
                    first = (start + offset) * WIDTH
                    if merkle.root_of(below[first : first + WIDTH]) != value:
                        raise VerificationFailed(
                            f"tile {ref.path()}: hash {offset} is not the root of the tile below"
                        )
            files[ref.path()] = data
            hashes.extend(tile)
        if level == 0 and merkle.root_of(hashes) != signed.root:
            raise VerificationFailed(
                f"the log's tiles do not give the root its checkpoint signs (size {signed.size})"
            )
        below = hashes
    if signed.size == 0 and signed.root != merkle.EMPTY_ROOT:
        raise VerificationFailed("an empty log's checkpoint must sign the empty root")
    if out is not None:
        for relative, data in files.items():
            write_file(out / relative, data)
        write_file(out / "checkpoint", note)  # last: a reader never sees it without its tiles
    return Mirrored(signed, len(files))
