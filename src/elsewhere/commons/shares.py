"""Splitting a 32-byte data key k-of-n and joining it again, with pycryptodome's Shamir
(over GF(2^128), 16-byte secrets): the key is split as two independent 16-byte halves, and a
share is the two halves' shares at the same index. Fewer than k shares give no information
about either half.
"""

from __future__ import annotations

from dataclasses import dataclass

from Crypto.Protocol.SecretSharing import Shamir

from elsewhere.errors import InputError

KEY_LEN = 32
SHARE_LEN = 32
MAX_SHARES = 255


@dataclass(frozen=True)
class Share:
    index: int  # 1..n
    value: bytes  # 32 bytes: share of the first half ‖ share of the second half

    def encode(self) -> bytes:
        return bytes([self.index]) + self.value

    @classmethod
    def parse(cls, data: bytes) -> Share:
        if len(data) != 1 + SHARE_LEN or data[0] == 0:
            raise InputError("key share", "", f"{len(data)} bytes, expected {1 + SHARE_LEN}")
        return cls(data[0], data[1:])


def split_key(key: bytes, k: int, n: int) -> tuple[Share, ...]:
    if len(key) != KEY_LEN:
        raise InputError("data key", "", f"{len(key)} bytes, expected {KEY_LEN}")
    if not 2 <= k <= n <= MAX_SHARES:
        raise InputError("key split", f"{k}-of-{n}", f"need 2 <= k <= n <= {MAX_SHARES}")
    low = Shamir.split(k, n, key[:16])
    high = Shamir.split(k, n, key[16:])
    return tuple(Share(i, a + b) for (i, a), (j, b) in zip(low, high, strict=True) if i == j)


def join_key(shares: list[Share], k: int) -> bytes:
    """The key from k distinct shares (more are ignored). Wrong shares give a wrong key, which
    the dataset's AES-GCM tag then refuses."""
    distinct = {s.index: s for s in shares}
    if len(distinct) < k:
        raise InputError("key shares", "", f"{len(distinct)} distinct shares, {k} needed")
    chosen = sorted(distinct.values(), key=lambda s: s.index)[:k]
    low = Shamir.combine([(s.index, s.value[:16]) for s in chosen])
    high = Shamir.combine([(s.index, s.value[16:]) for s in chosen])
    return low + high
