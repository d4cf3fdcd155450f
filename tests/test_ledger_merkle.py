"""RFC 9162 proofs: the range-based prover against the RFC's literal recursive definitions,
and property tests that every proof verifies and every flipped byte fails."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from elsewhere.errors import InputError, VerificationFailed
from elsewhere.ledger import merkle


def _leaves(n: int) -> list[bytes]:
    return [merkle.leaf_hash(hashlib.sha256(str(i).encode()).digest()) for i in range(n)]


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def rfc_path(m: int, leaves: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]) exactly as §2.1.3.1 writes it."""
    n = len(leaves)
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return [*rfc_path(m, leaves[:k]), merkle.mth(leaves[k:])]
    return [*rfc_path(m - k, leaves[k:]), merkle.mth(leaves[:k])]


def rfc_subproof(m: int, leaves: list[bytes], whole: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b) exactly as §2.1.4.1 writes it."""
    n = len(leaves)
    if m == n:
        return [] if whole else [merkle.mth(leaves)]
    k = _k(n)
    if m <= k:
        return [*rfc_subproof(m, leaves[:k], whole), merkle.mth(leaves[k:])]
    return [*rfc_subproof(m - k, leaves[k:], False), merkle.mth(leaves[:k])]


TREE = merkle.MemoryTree(_leaves(300))
LEAVES = _leaves(300)


def _flip(data: bytes, position: int) -> bytes:
    return data[:position] + bytes([data[position] ^ 0x01]) + data[position + 1 :]


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 300).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n - 1))))
def test_inclusion_matches_rfc_and_verifies(case: tuple[int, int]) -> None:
    size, index = case
    proof = merkle.prove_inclusion(index, size, TREE.read)
    assert proof == rfc_path(index, LEAVES[:size])
    root = TREE.root(size)
    assert root == merkle.mth(LEAVES[:size])
    merkle.verify_inclusion(index, size, LEAVES[index], proof, root)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 300).flatmap(lambda n: st.tuples(st.integers(1, n), st.just(n))))
def test_consistency_matches_rfc_and_verifies(case: tuple[int, int]) -> None:
    old, new = case
    proof = merkle.prove_consistency(old, new, TREE.read)
    assert proof == rfc_subproof(old, LEAVES[:new], True)
    assert len(proof) == (merkle.consistency_length(old, new) if old != new else 0)
    merkle.verify_consistency(old, new, TREE.root(old), TREE.root(new), proof)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(2, 300).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n - 1))), st.data()
)
def test_inclusion_flipped_byte_fails(case: tuple[int, int], data: st.DataObject) -> None:
    size, index = case
    proof = merkle.prove_inclusion(index, size, TREE.read)
    root = TREE.root(size)
    byte = data.draw(st.integers(0, 31))
    with pytest.raises(VerificationFailed):
        merkle.verify_inclusion(index, size, LEAVES[index], proof, _flip(root, byte))
    with pytest.raises(VerificationFailed):
        merkle.verify_inclusion(index, size, _flip(LEAVES[index], byte), proof, root)
    element = data.draw(st.integers(0, len(proof) - 1))
    bad = list(proof)
    bad[element] = _flip(bad[element], byte)
    with pytest.raises(VerificationFailed):
        merkle.verify_inclusion(index, size, LEAVES[index], bad, root)
    with pytest.raises(VerificationFailed):  # a proof for a neighbouring index
        merkle.verify_inclusion((index + 1) % size, size, LEAVES[index], proof, root)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(2, 300).flatmap(lambda n: st.tuples(st.integers(1, n - 1), st.just(n))), st.data()
)
def test_consistency_flipped_byte_fails(case: tuple[int, int], data: st.DataObject) -> None:
    old, new = case
    proof = merkle.prove_consistency(old, new, TREE.read)
    old_root, new_root = TREE.root(old), TREE.root(new)
    byte = data.draw(st.integers(0, 31))
    with pytest.raises(VerificationFailed):
        merkle.verify_consistency(old, new, _flip(old_root, byte), new_root, proof)
    with pytest.raises(VerificationFailed):
        merkle.verify_consistency(old, new, old_root, _flip(new_root, byte), proof)
    element = data.draw(st.integers(0, len(proof) - 1))
    bad = list(proof)
    bad[element] = _flip(bad[element], byte)
    with pytest.raises(VerificationFailed):
        merkle.verify_consistency(old, new, old_root, new_root, bad)
    with pytest.raises(VerificationFailed):
        merkle.verify_consistency(old, new, old_root, new_root, proof[:-1])
    with pytest.raises(VerificationFailed):
        merkle.verify_consistency(old, new, old_root, new_root, [*proof, proof[0]])


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 40), min_size=1, max_size=12))
def test_incremental_extend_equals_one_shot(batches: list[int]) -> None:
    size, border, stored = 0, [], []
    leaves = _leaves(sum(batches))
    for count in batches:
        new, border = merkle.extend(size, border, leaves[size : size + count])
        assert [key for key, _ in new] == list(
            range(merkle.stored_count(size), merkle.stored_count(size + count))
        )
        stored.extend(value for _, value in new)
        size += count
        assert merkle.fold_border(border) == merkle.mth(leaves[:size])
    memory = merkle.MemoryTree(leaves)
    assert len(stored) == merkle.stored_count(size)
    for level, row in enumerate(memory.levels):
        for index, value in enumerate(row):
            assert stored[merkle.stored_index(level, index)] == value


def test_stored_index_is_creation_order() -> None:
    tree = merkle.MemoryTree()
    order: list[tuple[int, int]] = []
    for leaf in _leaves(64):
        before = [len(level) for level in tree.levels]
        tree.append(leaf)
        for level, row in enumerate(tree.levels):
            if len(row) > (before[level] if level < len(before) else 0):
                order.append((level, len(row) - 1))
    assert [merkle.stored_index(level, index) for level, index in order] == list(range(len(order)))
    assert merkle.stored_count(64) == len(order)


def test_proof_requests_outside_the_tree_are_refused() -> None:
    with pytest.raises(InputError):
        merkle.inclusion_ranges(5, 5)
    with pytest.raises(InputError):
        merkle.consistency_ranges(0, 5)
    with pytest.raises(InputError):
        merkle.consistency_ranges(6, 5)
    with pytest.raises(VerificationFailed):
        merkle.verify_inclusion(0, 0, LEAVES[0], [], merkle.EMPTY_ROOT)


def test_proof_reads_are_logarithmic() -> None:
    """A proof reads O(log n) stored nodes, never the log: at most 2·log2(n) + 2."""
    big = 1_000_003
    for index in (0, 1, big // 2, big - 2, big - 1):
        nodes = merkle.plan_nodes(merkle.inclusion_ranges(index, big))
        assert len(nodes) <= 2 * big.bit_length() + 2
    for old in (1, 7, big // 3, big - 1):
        nodes = merkle.plan_nodes(merkle.consistency_ranges(old, big))
        assert len(nodes) <= 2 * big.bit_length() + 2
