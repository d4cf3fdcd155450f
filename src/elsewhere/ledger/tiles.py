"""C2SP tlog-tiles: the static layout a log is published in, read and written here.

A tile at level L, index N holds up to 256 hashes of the complete subtrees of height 8·L
covering leaves [(N·256 + i)·256^L, (N·256 + i + 1)·256^L). Entry bundles hold the entries
as uint16 big-endian length-prefixed records. `TileLog` reads such a log from a directory (a
Tessera log, or one `export` or `fetch` wrote) or through any `get(path)` (HTTP), and serves
the same NodeReader the database does, so proofs and the monitor work over any of them.
"""

from __future__ import annotations

import os
import re
import struct
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from elsewhere.errors import ParseError
from elsewhere.ledger import merkle
from elsewhere.ledger.merkle import HASH_SIZE, NodeId, NodeReader

WIDTH = 256
HEIGHT = 8
MAX_LEVEL = 63
MAX_GROUPS = 7  # index < 10^21, beyond any tree of 2^63 entries
_LEVEL = re.compile(r"0|[1-9][0-9]?")
_WIDTH = re.compile(r"[1-9][0-9]{0,2}")
_GROUP = re.compile(r"x[0-9]{3}")
_LAST = re.compile(r"[0-9]{3}")
_CACHED_TILES = 64


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


@dataclass(frozen=True)
class TileRef:
    """One tile (`level` None: an entry bundle) of `width` hashes or entries."""

    level: int | None
    index: int
    width: int = WIDTH

    @property
    def full(self) -> bool:
        return self.width == WIDTH

    def path(self) -> str:
        return tile_path("entries" if self.level is None else self.level, self.index, self.width)

    def exists_in(self, size: int) -> bool:
        """Whether a tree of `size` entries has every hash (or entry) of this tile."""
        height = 0 if self.level is None else HEIGHT * self.level
        return self.index * WIDTH + self.width <= size >> height


def parse_tile_path(path: str) -> TileRef:
    """`<L>/<N>[.p/<W>]` or `entries/<N>[.p/<W>]` (the part after `tile/`), in the one
    canonical spelling c2sp.org/tlog-tiles gives each tile."""

    def bad(why: str) -> ParseError:
        return ParseError("tile path", repr(path[:120]), why)

    parts = path.split("/")
    if len(parts) < 2:
        raise bad("expected <level>/<index> or entries/<index>")
    head, rest = parts[0], parts[1:]
    level: int | None = None
    if head != "entries":
        if not _LEVEL.fullmatch(head) or int(head) > MAX_LEVEL:
            raise bad("the level must be 0..63, without leading zeros")
        level = int(head)
    width = WIDTH
    if len(rest) >= 2 and rest[-2].endswith(".p"):
        if not _WIDTH.fullmatch(rest[-1]) or int(rest[-1]) >= WIDTH:
            raise bad("a partial tile's width must be 1..255, without leading zeros")
        width = int(rest[-1])
        rest = [*rest[:-2], rest[-2][:-2]]
    if len(rest) > MAX_GROUPS:
        raise bad("index too large")
    *upper, last = rest
    if not _LAST.fullmatch(last):
        raise bad("the index ends in a 3-digit group")
    if any(
        not (len(g) == 4 and g[0] == "x" and g[1:].isascii() and g[1:].isdigit()) for g in upper
    ):
        raise bad("every group but the last is x and 3 digits")
    if upper and upper[0] == "x000":
        raise bad("the index has a leading zero group")
    index = int("".join(g[1:] for g in upper) + last)
    return TileRef(level, index, width)


def tile_hashes(ref: TileRef, read: NodeReader) -> bytes:
    """The bytes of hash tile `ref` (level ≥ 0), read as stored complete-subtree hashes."""
    assert ref.level is not None
    first = ref.index * WIDTH
    nodes = [NodeId(HEIGHT * ref.level, first + i) for i in range(ref.width)]
    found = read(set(nodes))
    return b"".join(found[n] for n in nodes)


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


Fetch = Callable[[str], bytes]


class TileLog:
    """A tlog-tiles log: a directory on disk, or `get(path)` for a path under the prefix
    (raising ElsewhereError when it cannot). Nothing read is trusted: callers check tiles
    against a signed checkpoint (proofs, roots) before they rely on them."""

    def __init__(self, source: Path | Fetch) -> None:
        self.root = source if isinstance(source, Path) else None
        self._get = source if not isinstance(source, Path) else self._read
        self._cache: OrderedDict[str, bytes] = OrderedDict()  # tiles are immutable

    def _read(self, relative: str) -> bytes:
        assert self.root is not None
        path = self.root / relative
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise ParseError("tile log", str(path), "tile missing") from None

    def get(self, relative: str) -> bytes:
        found = self._cache.get(relative)
        if found is None:
            found = self._get(relative)
            self._cache[relative] = found
            while len(self._cache) > _CACHED_TILES:
                self._cache.popitem(last=False)
        return found

    def _tile(self, level: int | str, index: int, width: int) -> bytes:
        return self.get(tile_path(level, index, width))

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

    def entry(self, index: int, size: int) -> bytes:
        """Entry `index` of the tree of `size`, from its entry bundle."""
        if not 0 <= index < size:
            raise ParseError("tile log", f"entry {index}", f"not below tree size {size}")
        bundle = index // WIDTH
        width = min(WIDTH, size - bundle * WIDTH)
        entries = parse_entry_bundle(self._tile("entries", bundle, width))
        if len(entries) != width:
            raise ParseError("tile log", tile_path("entries", bundle, width), "wrong count")
        return entries[index % WIDTH]

    def checkpoint(self) -> bytes:
        """The current checkpoint (never cached: it is the one mutable resource)."""
        if self.root is None:
            return self._get("checkpoint")
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
            write_file(path, tile_hashes(TileRef(level, index, width), read))
            written += 1
            if level == 0:
                bundle = encode_entry_bundle(entries(first, first + width))
                write_file(root / tile_path("entries", index, width), bundle)
                written += 1
    write_file(root / "checkpoint", checkpoint)
    return written + 1


def write_file(path: Path, data: bytes) -> None:
    """Write through a temporary name, so a reader never sees half a tile."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)
