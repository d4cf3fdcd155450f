"""RFC 9162 §2.1 Merkle tree hashing, proof construction and proof verification.

Pure functions only. Storage supplies the hashes of complete subtrees, named by NodeId
(level, index): the node covering leaves [index·2^level, (index+1)·2^level). Every hash an
RFC 9162 proof needs is the hash of a range [a, b) that splits into at most log2(n) such
complete subtrees, so a proof costs O(log n) node reads and O(log n) hashes, never a rehash
of the log.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from elsewhere.errors import InputError, VerificationFailed

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


@dataclass(frozen=True, order=True, slots=True)
class NodeId:
    level: int
    index: int


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def stored_index(level: int, index: int) -> int:
    """Position of node (level, index) in creation order: each leaf, then the parents it
    completes. Appending therefore only ever adds rows at the end (a monotonic primary key)."""
    last_leaf = ((index + 1) << level) - 1
    return 2 * last_leaf - last_leaf.bit_count() + level


def stored_count(size: int) -> int:
    """How many node hashes a tree of `size` leaves stores: 2n − popcount(n)."""
    return 2 * size - size.bit_count()


# --- Building ---------------------------------------------------------------------------


def border_nodes(size: int) -> list[NodeId]:
    """The complete subtrees on the right border of a tree of `size` leaves, left to right."""
    nodes = []
    start = 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            nodes.append(NodeId(level, start >> level))
            start += 1 << level
    return nodes


def fold_border(hashes: Sequence[bytes]) -> bytes:
    """Root from the border hashes (left to right): the §2.1.2 stack, folded right to left."""
    if not hashes:
        return EMPTY_ROOT
    root = hashes[-1]
    for left in reversed(hashes[:-1]):
        root = node_hash(left, root)
    return root


def extend(
    size: int, border: Sequence[bytes], leaves: Iterable[bytes]
) -> tuple[list[tuple[int, bytes]], list[bytes]]:
    """Append leaf hashes to a tree given its border hashes.

    Returns every new node as (stored_index, hash) in creation order, and the new border.
    About two SHA-256 per leaf, amortised (§2.1.2)."""
    stack = list(border)
    new: list[tuple[int, bytes]] = []
    position = stored_count(size)
    for leaf in leaves:
        stack.append(leaf)
        new.append((position, leaf))
        position += 1
        index = size
        while index & 1:
            right = stack.pop()
            stack[-1] = node_hash(stack[-1], right)
            new.append((position, stack[-1]))
            position += 1
            index >>= 1
        size += 1
    return new, stack


def root_of(leaves: Sequence[bytes]) -> bytes:
    """MTH of a list of leaf hashes (streaming)."""
    _, border = extend(0, [], leaves)
    return fold_border(border)


def mth(leaves: Sequence[bytes]) -> bytes:
    """MTH by the §2.1.1 recursion, kept literal as a cross-check for the streaming form."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = _split(len(leaves))
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


# --- Proof plans: which ranges, and which stored nodes, a proof needs --------------------


def _split(n: int) -> int:
    """Largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def range_nodes(start: int, end: int) -> list[NodeId]:
    """Complete subtrees whose concatenation is [start, end), largest first."""
    nodes = []
    while start < end:
        level = (end - start).bit_length() - 1
        while start & ((1 << level) - 1):
            level -= 1
        nodes.append(NodeId(level, start >> level))
        start += 1 << level
    return nodes


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """PATH(index, D[0:size]) as leaf ranges, from the leaf's sibling up (§2.1.3.1)."""
    if not 0 <= index < size:
        raise InputError("inclusion proof", f"index {index}", f"not below tree size {size}")
    out = []
    low, high = 0, size
    while high - low > 1:
        k = _split(high - low)
        if index < low + k:
            out.append((low + k, high))
            high = low + k
        else:
            out.append((low, low + k))
            low += k
    return out[::-1]


def consistency_ranges(old: int, new: int) -> list[tuple[int, int]]:
    """PROOF(old, D[0:new]) as leaf ranges (§2.1.4.1); empty when old == new."""
    if not 0 < old <= new:
        raise InputError("consistency proof", f"sizes {old}→{new}", "need 0 < old ≤ new")
    out = []
    low, high, whole = 0, new, True
    while old - low != high - low:
        k = _split(high - low)
        if old - low <= k:
            out.append((low + k, high))
            high = low + k
        else:
            out.append((low, low + k))
            low += k
            whole = False
    if not whole:
        out.append((low, high))
    return out[::-1]


def plan_nodes(ranges: Iterable[tuple[int, int]]) -> set[NodeId]:
    return {node for start, end in ranges for node in range_nodes(start, end)}


def resolve(ranges: Sequence[tuple[int, int]], nodes: Mapping[NodeId, bytes]) -> list[bytes]:
    """Hash of each range from the stored complete subtrees."""
    return [fold_border([nodes[node] for node in range_nodes(s, e)]) for s, e in ranges]


NodeReader = Callable[[set[NodeId]], Mapping[NodeId, bytes]]


def prove_inclusion(index: int, size: int, read: NodeReader) -> list[bytes]:
    ranges = inclusion_ranges(index, size)
    return resolve(ranges, read(plan_nodes(ranges)))


def prove_consistency(old: int, new: int, read: NodeReader) -> list[bytes]:
    ranges = consistency_ranges(old, new)
    return resolve(ranges, read(plan_nodes(ranges)))


def root_at(size: int, read: NodeReader) -> bytes:
    nodes = border_nodes(size)
    found = read(set(nodes))
    return fold_border([found[node] for node in nodes])


# --- Verification: §2.1.3.2 and §2.1.4.2, with the length and edge-case checks ----------


def _check_hash(value: bytes, what: str) -> None:
    if len(value) != HASH_SIZE:
        raise VerificationFailed(f"{what} is {len(value)} bytes, not {HASH_SIZE}")


def inclusion_length(index: int, size: int) -> int:
    inner = (index ^ (size - 1)).bit_length()
    return inner + (index >> inner).bit_count()


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Raise VerificationFailed unless `proof` shows leaf `index` in the tree (size, root)."""
    if not 0 <= index < size:
        raise VerificationFailed(f"inclusion: index {index} is not below tree size {size}")
    _check_hash(leaf, "leaf hash")
    _check_hash(root, "root hash")
    for number, item in enumerate(proof):
        _check_hash(item, f"inclusion proof hash {number}")
    if len(proof) != inclusion_length(index, size):
        raise VerificationFailed(
            f"inclusion proof has {len(proof)} hashes; index {index} in size {size} needs "
            f"{inclusion_length(index, size)}"
        )
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise VerificationFailed("inclusion proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0 or r != root:
        raise VerificationFailed(
            f"inclusion proof for index {index} does not lead to the root of size {size}"
        )


def consistency_length(old: int, new: int) -> int:
    level = (old & -old).bit_length() - 1  # the old tree's rightmost complete subtree
    index = (old - 1) >> level
    size = ((new - 1) >> level) + 1
    length = inclusion_length(index, size)
    return length if index == 0 else length + 1


def verify_consistency(
    old: int, new: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Raise VerificationFailed unless `proof` shows tree (old, old_root) is a prefix of
    (new, new_root). Sizes 0 and old > new are refused, as transparency-dev does."""
    if old > new:
        raise VerificationFailed(f"consistency: old size {old} is larger than new size {new}")
    if old == 0:
        raise VerificationFailed("consistency: a proof from size 0 proves nothing")
    if old == new:  # nothing to hash: the two statements must simply be the same
        if proof:
            raise VerificationFailed("consistency: equal sizes need an empty proof")
        if old_root != new_root:
            raise VerificationFailed(f"consistency: two different roots for size {old}")
        return
    _check_hash(old_root, "old root hash")
    _check_hash(new_root, "new root hash")
    for number, item in enumerate(proof):
        _check_hash(item, f"consistency proof hash {number}")
    if len(proof) != consistency_length(old, new):
        raise VerificationFailed(
            f"consistency proof has {len(proof)} hashes; sizes {old}→{new} need "
            f"{consistency_length(old, new)}"
        )
    path = list(proof)
    if old & (old - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise VerificationFailed("consistency proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0 or fr != old_root or sr != new_root:
        raise VerificationFailed(f"consistency proof does not link size {old} to size {new}")


class MemoryTree:
    """A tree held in memory as leaf hashes: for tests, vectors and tile-served logs."""

    def __init__(self, leaves: Iterable[bytes] = ()) -> None:
        self.levels: list[list[bytes]] = [[]]
        for leaf in leaves:
            self.append(leaf)

    @property
    def size(self) -> int:
        return len(self.levels[0])

    def append(self, leaf: bytes) -> None:
        level = 0
        self.levels[0].append(leaf)
        while len(self.levels[level]) % 2 == 0:
            row = self.levels[level]
            if len(self.levels) == level + 1:
                self.levels.append([])
            self.levels[level + 1].append(node_hash(row[-2], row[-1]))
            level += 1

    def read(self, nodes: set[NodeId]) -> dict[NodeId, bytes]:
        return {node: self.levels[node.level][node.index] for node in nodes}

    def root(self, size: int | None = None) -> bytes:
        return root_at(self.size if size is None else size, self.read)
