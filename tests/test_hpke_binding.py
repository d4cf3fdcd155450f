from __future__ import annotations

import hashlib
import struct

import pytest

from elsewhere.crypto.binding import matches_report_data, report_data, workload_digest
from elsewhere.crypto.hpke import X25519, KeepKey
from elsewhere.errors import InputError

NONCE = bytes(range(32))
KEY = KeepKey.generate(X25519).public_bytes()
WORKLOAD = workload_digest(b"\0asm\1\0\0\0")
POLICY = hashlib.sha256(b"policy").digest()


def test_report_data_is_deterministic_and_64_bytes() -> None:
    first = report_data(NONCE, KEY, WORKLOAD, POLICY)
    assert len(first) == 64
    assert first == report_data(NONCE, KEY, WORKLOAD, POLICY)


def test_report_data_is_the_documented_encoding() -> None:
    def lp(value: bytes) -> bytes:
        return struct.pack(">H", len(value)) + value

    expected = hashlib.sha512(
        b"elsewhere/report-data/v1\x00" + lp(NONCE) + lp(KEY) + lp(WORKLOAD) + lp(POLICY)
    ).digest()
    assert report_data(NONCE, KEY, WORKLOAD, POLICY) == expected


def test_each_input_changes_the_value() -> None:
    base = report_data(NONCE, KEY, WORKLOAD, POLICY)
    other_key = KeepKey.generate(X25519).public_bytes()
    variants = [
        report_data(bytes(32), KEY, WORKLOAD, POLICY),
        report_data(NONCE, other_key, WORKLOAD, POLICY),
        report_data(NONCE, KEY, workload_digest(b"other"), POLICY),
        report_data(NONCE, KEY, WORKLOAD, hashlib.sha256(b"other").digest()),
    ]
    assert len({base, *variants}) == 5


def test_field_boundaries_are_unambiguous() -> None:
    # Moving a byte from the end of the nonce to the start of the key changes the value.
    a = report_data(NONCE + b"\x01", b"\x02" + KEY, WORKLOAD, POLICY)
    b = report_data(NONCE, b"\x01\x02" + KEY, WORKLOAD, POLICY)
    assert a != b


def test_matches_report_data() -> None:
    found = report_data(NONCE, KEY, WORKLOAD, POLICY)
    kwargs = dict(keep_public_key=KEY, workload_digest=WORKLOAD, policy_digest=POLICY)
    assert matches_report_data(found, nonce=NONCE, **kwargs)
    assert not matches_report_data(found, nonce=bytes(32), **kwargs)


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ((b"short", KEY, WORKLOAD, POLICY), "nonce"),
        ((NONCE, b"", WORKLOAD, POLICY), "keep_public_key"),
        ((NONCE, KEY, hashlib.sha256(b"x").digest(), POLICY), "workload_digest"),
        ((NONCE, KEY, WORKLOAD, b"\0" * 8), "policy_digest"),
    ],
)
def test_bad_inputs_are_refused(args: tuple[bytes, bytes, bytes, bytes], field: str) -> None:
    with pytest.raises(InputError, match=field):
        report_data(*args)
