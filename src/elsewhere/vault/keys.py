"""The vault's key hierarchy: tenant KEK → per-subject data key → records (AES-256-GCM).

    subject hash = HMAC-SHA256(K_h, tenant ‖ 0x00 ‖ subject id), K_h = HMAC(KEK, HASH_LABEL)
    wrapped key  = nonce ‖ AES-256-GCM(KEK,      nonce, data key, KEY_LABEL ‖ tenant ‖ hash)
    record       = nonce ‖ AES-256-GCM(data key, nonce, value,    RECORD_LABEL ‖ tenant ‖ hash ‖ id)

The subject id itself is never stored: the hash stands in for it everywhere (tables, ledger,
logs). Unwrapped keys live in bytearrays (`Wiped`) that are zeroed when the block ends; the AEAD
works into and out of them (`encrypt_into`/`decrypt_into`), so no immutable copy of a data key
is made by this module. Python may still have copied bytes elsewhere (docs/vault.md says how
far this goes).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets as random
from collections.abc import Iterator
from contextlib import contextmanager

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from elsewhere.errors import ElsewhereError

HASH_LABEL = b"elsewhere.vault.subject-hash/1"
KEY_LABEL = b"elsewhere.vault.key/1"
RECORD_LABEL = b"elsewhere.vault.record/1"
EPOCH_LABEL = b"elsewhere.vault.epoch/1"
NONCE = 12
TAG = 16
KEY_BYTES = 32


class KeyUnavailable(ElsewhereError):
    """A wrapped key or record that does not open (another KEK, a damaged or moved row)."""


def wipe(buffer: bytearray) -> None:
    buffer[:] = bytes(len(buffer))


@contextmanager
def wiped(size: int = KEY_BYTES) -> Iterator[bytearray]:
    """A zeroed bytearray for key material, zeroed again when the block ends."""
    buffer = bytearray(size)
    try:
        yield buffer
    finally:
        wipe(buffer)


def subject_hash(kek: bytes, tenant_id: str, subject: str) -> str:
    """The keyed hash that stands in for a subject id (hex)."""
    key = hmac.new(kek, HASH_LABEL, hashlib.sha256).digest()
    message = tenant_id.encode() + b"\x00" + subject.encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def key_aad(tenant_id: str, subject_hash_hex: str) -> bytes:
    return b"\x00".join((KEY_LABEL, tenant_id.encode(), subject_hash_hex.encode()))


def record_aad(tenant_id: str, subject_hash_hex: str, record_id: str) -> bytes:
    return b"\x00".join(
        (RECORD_LABEL, tenant_id.encode(), subject_hash_hex.encode(), record_id.encode())
    )


VAULT_INFO = b"elsewhere/vault-key/v1"  # HPKE info of a data key released to a keep


def release_aad(placement_id: str, subject_hash: str, purpose: str) -> bytes:
    """What a data key released to a keep is bound to (the keep opens it with the same bytes)."""
    return b"\x00".join(
        (b"elsewhere/vault-aad/v1", placement_id.encode(), subject_hash.encode(), purpose.encode())
    )


def epoch_aad(epoch_id: str) -> bytes:
    return EPOCH_LABEL + b"\x00" + epoch_id.encode()


def new_key(into: bytearray) -> None:
    into[:] = random.token_bytes(KEY_BYTES)


def seal(key: bytes | bytearray, plaintext: bytes | bytearray, aad: bytes) -> bytes:
    nonce = random.token_bytes(NONCE)
    out = bytearray(len(plaintext) + TAG)
    AESGCM(key).encrypt_into(nonce, plaintext, aad, out)
    return nonce + bytes(out)


def open_into(key: bytes | bytearray, blob: bytes, aad: bytes, into: bytearray) -> None:
    """Decrypt `blob` into the bytearray `into` (sized len(blob) - 28)."""
    if len(blob) != NONCE + len(into) + TAG:
        raise KeyUnavailable("vault: sealed value has the wrong length")
    try:
        AESGCM(key).decrypt_into(blob[:NONCE], blob[NONCE:], aad, into)
    except InvalidTag:
        raise KeyUnavailable("vault: sealed value does not open (other key, or damaged)") from None


# The KEK's cipher, built once per KEK: its key schedule costs about as much as four
# AES-GCM operations on a record. The KEK itself lives as long as the process anyway.
_kek_ciphers: dict[bytes, AESGCM] = {}


def _kek_cipher(kek: bytes) -> AESGCM:
    cipher = _kek_ciphers.get(kek)
    if cipher is None:
        if len(_kek_ciphers) >= 4:
            _kek_ciphers.clear()
        cipher = _kek_ciphers[kek] = AESGCM(kek)
    return cipher


def wrap_key(kek: bytes, data_key: bytearray, tenant_id: str, subject_hash_hex: str) -> bytes:
    nonce = random.token_bytes(NONCE)
    out = bytearray(len(data_key) + TAG)
    _kek_cipher(kek).encrypt_into(nonce, data_key, key_aad(tenant_id, subject_hash_hex), out)
    return nonce + bytes(out)


def unwrap_key(
    kek: bytes, wrapped: bytes, tenant_id: str, subject_hash_hex: str, into: bytearray
) -> None:
    if len(wrapped) != NONCE + len(into) + TAG:
        raise KeyUnavailable("vault: wrapped key has the wrong length")
    aad = key_aad(tenant_id, subject_hash_hex)
    try:
        _kek_cipher(kek).decrypt_into(wrapped[:NONCE], wrapped[NONCE:], aad, into)
    except InvalidTag:
        raise KeyUnavailable("vault: wrapped key does not open (other KEK, or damaged)") from None


def open_record(data_key: bytes | bytearray, blob: bytes, aad: bytes) -> bytes:
    """What a keep does with a released data key (the control plane never calls this)."""
    out = bytearray(max(len(blob) - NONCE - TAG, 0))
    open_into(data_key, blob, aad, out)
    return bytes(out)
