"""The report_data binding: what a keep asks its TEE to sign.

    report_data = SHA-512( "elsewhere/report-data/v1" 0x00
                           | u16 len(nonce)           | nonce
                           | u16 len(keep_public_key) | keep_public_key
                           | u16 len(workload_digest) | workload_digest
                           | u16 len(policy_digest)   | policy_digest )

Lengths are big-endian u16, so no two distinct inputs share an encoding; SHA-512 gives the 64
bytes that SEV-SNP REPORT_DATA and TDX REPORTDATA hold. `keep_public_key` is the tagged HPKE
encoding (elsewhere.crypto.hpke), so the suite is bound too; `workload_digest` is SHA-384 of
the module bytes; `policy_digest` is whatever digest the control plane gives the policy
(32-64 bytes). The nonce is single-use, issued by the control plane (16-64 bytes).

A verifier recomputes the value from the nonce it issued, the key it will seal to and the
digests it expects, and compares (`matches_report_data`): evidence for any other key,
workload, policy or an old nonce does not match.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from typing import Final

from elsewhere.errors import InputError

LABEL: Final = b"elsewhere/report-data/v1\x00"
REPORT_DATA_LEN: Final = 64
WORKLOAD_DIGEST_LEN: Final = 48


def workload_digest(module_bytes: bytes) -> bytes:
    """SHA-384 of the exact module bytes the keep compiles (the workload's identity)."""
    return hashlib.sha384(module_bytes).digest()


def _field(name: str, value: bytes, low: int, high: int) -> bytes:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise InputError("report_data binding", name, "must be bytes")
    if not low <= len(value) <= high:
        raise InputError("report_data binding", name, f"{len(value)} bytes, expected {low}..{high}")
    return struct.pack(">H", len(value)) + bytes(value)


def report_data(
    nonce: bytes, keep_public_key: bytes, workload_digest: bytes, policy_digest: bytes
) -> bytes:
    """The 64-byte report_data for these four values (module docstring). Pure."""
    message = (
        LABEL
        + _field("nonce", nonce, 16, 64)
        + _field("keep_public_key", keep_public_key, 1, 0xFFFF)
        + _field("workload_digest", workload_digest, WORKLOAD_DIGEST_LEN, WORKLOAD_DIGEST_LEN)
        + _field("policy_digest", policy_digest, 32, 64)
    )
    return hashlib.sha512(message).digest()


def matches_report_data(
    found: bytes,
    *,
    nonce: bytes,
    keep_public_key: bytes,
    workload_digest: bytes,
    policy_digest: bytes,
) -> bool:
    """Whether `found` (from evidence) is the binding of these values; constant-time compare."""
    expected = report_data(nonce, keep_public_key, workload_digest, policy_digest)
    return hmac.compare_digest(bytes(found), expected)
