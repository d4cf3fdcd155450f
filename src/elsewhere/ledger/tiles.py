"""C2SP tlog-tiles: the static layout a log is published in, read and written here.

A tile at level L, index N holds up to 256 hashes of the complete subtrees of height 8·L
covering leaves [(N·256 + i)·256^L, (N·256 + i + 1)·256^L). Entry bundles hold the entries
as uint16 big-endian length-prefixed records. `TileLog` reads such a directory (a Tessera
log, or one `export` wrote) and serves the same NodeReader the database does, so proofs and
the monitor work over either.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from pathlib import Path

from elsewhere.errors import ParseError
from elsewhere.ledger import merkle
from elsewhere.ledger.merkle import HASH_SIZE, NodeId, NodeReader

WIDTH = 256
HEIGHT = 8


def _index_path(index: int) -> str:
    path = f"{index % 1000:03d}"
    while index >= 1000:
        index //= 1000
        path = f"x{index % 1000:03d}/{path}"
    return path


def tile_path(level: int | str, index: int, width: int = WIDTH) -> str:
    """Path of a tile (level "entries" for entry bundles); partial tiles get .p/<width>."""
    if not 0 < width <= WIDTH:
        raise ValueError("tile width must be 1..256")
    suffix = f".p/{width}" if width < WIDTH else ""
    return f"tile/{level}/{_index_path(index)}{suffix}"


def tile_counts(size: int) -> dict[int, tuple[int, int]]:
    """For each tile level: (full tiles, width of the partial tile or 0)."""
    counts = {}
    level = 0
    while size >> (HEIGHT * level):
        hashes = size >> (HEIGHT * level)
        counts[level] = (hashes // WIDTH, hashes % WIDTH)
        level += 1
    return counts


def parse_entry_bundle(data: bytes) -> list[bytes]:
    entries = []
    offset = 0
    while offset < len(data):
        if offset + 2 > len(data):
            raise ParseError("entry bundle", f"offset {offset}", "truncated length prefix")
        (length,) = struct.unpack_from(">H", data, offset)
        offset += 2
        if offset + length > len(data):
            raise ParseError("entry bundle", f"offset {offset}", "truncated entry")
        entries.append(data[offset : offset + length])
        offset += length
    if len(entries) > WIDTH:
        raise ParseError("entry bundle", "", "more than 256 entries")
    return entries


def encode_entry_bundle(entries: list[bytes]) -> bytes:
    return b"".join(struct.pack(">H", len(e)) + e for e in entries)


class TileLog:
    """A tlog-tiles directory on disk."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _tile(self, level: int | str, index: int, width: int) -> bytes:
        path = self.root / tile_path(level, index, width)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise ParseError("tile log", str(path), "tile missing") from None

    def _hashes(self, level: int, start: int, end: int, size: int) -> list[bytes]:
        """Stored hashes [start, end) of tile level `level` in the tree of `size`."""
        count = size >> (HEIGHT * level)
        out: list[bytes] = []
        while start < end:
            index = start // WIDTH
            width = min(WIDTH, count - index * WIDTH)
            data = self._tile(level, index, width)
            if len(data) != width * HASH_SIZE:
                raise ParseError("tile log", tile_path(level, index, width), "wrong length")
            stop = min(end, (index + 1) * WIDTH)
            for position in range(start, stop):
                offset = (position - index * WIDTH) * HASH_SIZE
                out.append(data[offset : offset + HASH_SIZE])
            start = stop
        return out

    def read_leaves(self, start: int, end: int) -> list[bytes]:
        return self._hashes(0, start, end, end)

    def read_nodes(self, size: int) -> NodeReader:
        def read(nodes: set[NodeId]) -> dict[NodeId, bytes]:
            found = {}
            for node in nodes:
                level, sub = divmod(node.level, HEIGHT)
                first = node.index << sub
                hashes = self._hashes(level, first, first + (1 << sub), size)
                found[node] = merkle.root_of(hashes)
            return found

        return read

    def entries(self, size: int) -> list[bytes]:
        out: list[bytes] = []
        for index in range((size + WIDTH - 1) // WIDTH):
            width = min(WIDTH, size - index * WIDTH)
            bundle = parse_entry_bundle(self._tile("entries", index, width))
            if len(bundle) != width:
                raise ParseError("tile log", tile_path("entries", index, width), "wrong count")
            out.extend(bundle)
        return out

    def checkpoint(self) -> bytes:
        try:
            return (self.root / "checkpoint").read_bytes()
        except FileNotFoundError:
            raise ParseError("tile log", str(self.root), "no checkpoint file") from None


def export(
    root: Path,
    size: int,
    read: NodeReader,
    entries: Callable[[int, int], list[bytes]],
    checkpoint: bytes,
) -> int:
    """Write the tiles and entry bundles of a tree of `size`, then its checkpoint (last,
    so a reader never sees a checkpoint whose tiles are missing). Returns files written."""
    written = 0
    for level, (full, partial) in tile_counts(size).items():
        for index in range(full + (1 if partial else 0)):
            width = WIDTH if index < full else partial
            path = root / tile_path(level, index, width)
            if width == WIDTH and path.exists():
                continue  # full tiles never change
            first = index * WIDTH
            nodes = [NodeId(HEIGHT * level, first + i) for i in range(width)]
            found = read(set(nodes))
            _write(path, b"".join(found[n] for n in nodes))
            written += 1
            if level == 0:
                bundle = encode_entry_bundle(entries(first, first + width))
                _write(root / tile_path("entries", index, width), bundle)
                written += 1
    _write(root / "checkpoint", checkpoint)
    return written + 1


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)
