"""HPKE (RFC 9180) keys and single-shot sealing for keeps and tenants.

Two suites, both HKDF-SHA256 + AES-256-GCM, told apart by the RFC 9180 KEM identifier:

- ``mlkem768-x25519`` (default): KEM 0x647A, ML-KEM-768 + X25519 ("X-Wing"), a
  quantum-resistant hybrid. The private key is the 32-byte X-Wing seed.
- ``x25519``: KEM 0x0020, DHKEM(X25519, HKDF-SHA256). The private key is the raw 32 bytes.

Wire formats (integers big-endian; every length is fixed by the suite, so parsing is exact):

- Public key: ``"EWPK" | u8 version=1 | u16 kem_id | u16 kdf_id | u16 aead_id | key``
  where ``key`` is the KEM's serialised public key (32 bytes for X25519; 1216 bytes
  ML-KEM-768 ‖ X25519 for the hybrid).
- Sealed message: ``"EWSL" | u8 version=1 | u16 kem_id | u16 kdf_id | u16 aead_id |
  recipient key id (32 bytes, SHA-256 of the encoded public key) | enc | ciphertext``
  where ``enc`` has the KEM's fixed length (32 / 1120) and ``ciphertext`` is the AEAD output
  (plaintext length + 16-byte tag).

The caller's ``info`` and ``aad`` are both authenticated through HPKE's ``info`` (RFC 9180
§8.1 for single-shot APIs): ``"elsewhere/hpke/v1" 0x00 | header | u32 len(info) | info |
SHA-384(aad)``, where ``header`` is the sealed message's bytes before ``enc``. A change to
either value, to the header or to the ciphertext makes `open` fail with `OpenFailed`.
"""

from __future__ import annotations

import functools
import hashlib
import os
import struct
from dataclasses import dataclass
from typing import Final, Self

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519

from elsewhere.errors import ElsewhereError, ParseError

PUBLIC_MAGIC: Final = b"EWPK"
SEALED_MAGIC: Final = b"EWSL"
FORMAT_VERSION: Final = 1
HEADER = struct.Struct(">4sBHHH")  # magic, version, kem, kdf, aead
KEY_ID_LEN: Final = 32
TAG_LEN: Final = 16
MAX_SEALED_LEN: Final = 64 << 20  # a secret or a result larger than this is not a secret
_INFO_LABEL: Final = b"elsewhere/hpke/v1\x00"
_KDF_HKDF_SHA256: Final = 0x0001
_AEAD_AES_256_GCM: Final = 0x0002


class HpkeError(ElsewhereError):
    """An HPKE operation that cannot be done with these inputs."""


class OpenFailed(HpkeError):
    """Decryption failed: wrong key, different info/aad, or a changed message."""


class WrongRecipient(OpenFailed):
    """The sealed message names another recipient key than the one used to open it."""


@dataclass(frozen=True)
class HpkeSuite:
    """One HPKE suite: RFC 9180 identifiers and the fixed sizes of its encodings."""

    name: str
    kem_id: int
    kdf_id: int
    aead_id: int
    public_key_len: int
    enc_len: int
    secret_len: int

    @functools.cached_property
    def backend(self) -> hpke.Suite:
        """The pyca HPKE suite object."""
        kem = hpke.KEM.X25519 if self.kem_id == 0x0020 else hpke.KEM.MLKEM768_X25519
        return hpke.Suite(kem, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)

    def ids(self) -> tuple[int, int, int]:
        return (self.kem_id, self.kdf_id, self.aead_id)


X25519: Final = HpkeSuite("x25519", 0x0020, _KDF_HKDF_SHA256, _AEAD_AES_256_GCM, 32, 32, 32)
MLKEM768_X25519: Final = HpkeSuite(
    "mlkem768-x25519", 0x647A, _KDF_HKDF_SHA256, _AEAD_AES_256_GCM, 1216, 1120, 32
)
DEFAULT_SUITE: Final = MLKEM768_X25519
SUITES: Final = {suite.name: suite for suite in (MLKEM768_X25519, X25519)}
_BY_IDS: Final = {suite.ids(): suite for suite in SUITES.values()}


def suite_named(name: str) -> HpkeSuite:
    """The suite called `name` ("mlkem768-x25519" or "x25519"); ParseError otherwise."""
    try:
        return SUITES[name]
    except KeyError:
        raise ParseError(
            "HPKE suite", repr(name), f"unknown; use one of {', '.join(SUITES)}"
        ) from None


def _suite_by_ids(what: str, kem: int, kdf: int, aead: int) -> HpkeSuite:
    suite = _BY_IDS.get((kem, kdf, aead))
    if suite is None:
        raise ParseError(
            what,
            "suite",
            f"unsupported HPKE suite kem=0x{kem:04x} kdf=0x{kdf:04x} aead=0x{aead:04x}",
        )
    return suite


def parse_header(what: str, data: bytes, magic: bytes) -> HpkeSuite:
    if len(data) < HEADER.size:
        raise ParseError(what, "offset 0", f"truncated: {len(data)} bytes, header needs 11")
    found, version, kem, kdf, aead = HEADER.unpack_from(data)
    if found != magic:
        raise ParseError(what, "offset 0", f"not an Elsewhere {what} (magic {found!r})")
    if version != FORMAT_VERSION:
        raise ParseError(what, "offset 4", f"version {version} unsupported, expected 1")
    return _suite_by_ids(what, kem, kdf, aead)


@dataclass(frozen=True)
class PublicKey:
    """An HPKE recipient public key: the suite and the KEM's serialised key bytes."""

    suite: HpkeSuite
    key: bytes

    def __post_init__(self) -> None:
        if len(self.key) != self.suite.public_key_len:
            raise ParseError(
                "HPKE public key",
                "key",
                f"{len(self.key)} bytes, {self.suite.name} keys are {self.suite.public_key_len}",
            )

    def encode(self) -> bytes:
        """The tagged encoding (module docstring); what goes into report_data and the API."""
        return HEADER.pack(PUBLIC_MAGIC, FORMAT_VERSION, *self.suite.ids()) + self.key

    def key_id(self) -> bytes:
        """SHA-256 of the tagged encoding: names the recipient in sealed messages."""
        return self._key_id

    @functools.cached_property
    def _key_id(self) -> bytes:
        return hashlib.sha256(self.encode()).digest()

    def fingerprint(self) -> str:
        """Hex key id, for logs and the isolation report."""
        return self.key_id().hex()

    @classmethod
    def parse(cls, data: bytes) -> PublicKey:
        """Parse a tagged public key; ParseError on any other shape or length."""
        data = bytes(data)
        suite = parse_header("HPKE public key", data, PUBLIC_MAGIC)
        expected = HEADER.size + suite.public_key_len
        if len(data) != expected:
            raise ParseError(
                "HPKE public key",
                "length",
                f"{len(data)} bytes, a {suite.name} key is {expected}",
            )
        key = cls(suite, data[HEADER.size :])
        key._backend  # noqa: B018  (loading it rejects bytes the KEM cannot use)
        return key

    @functools.cached_property
    def _backend(self) -> x25519.X25519PublicKey | hpke.MLKEM768X25519PublicKey:
        try:
            if self.suite is X25519:
                return x25519.X25519PublicKey.from_public_bytes(self.key)
            return hpke.MLKEM768X25519PublicKey(
                mlkem.MLKEM768PublicKey.from_public_bytes(self.key[:1184]),
                x25519.X25519PublicKey.from_public_bytes(self.key[1184:]),
            )
        except ValueError as error:
            raise ParseError("HPKE public key", "key", f"not a valid key: {error}") from None


@dataclass(frozen=True)
class SealedMessage:
    """A parsed sealed message (module docstring): header fields, enc and ciphertext."""

    suite: HpkeSuite
    recipient: bytes
    enc: bytes
    ciphertext: bytes

    def header(self) -> bytes:
        return HEADER.pack(SEALED_MAGIC, FORMAT_VERSION, *self.suite.ids()) + self.recipient

    def encode(self) -> bytes:
        return self.header() + self.enc + self.ciphertext

    @classmethod
    def parse(cls, data: bytes) -> SealedMessage:
        """Parse sealed bytes; ParseError when truncated, oversized or of an unknown suite."""
        data = bytes(data)
        if len(data) > MAX_SEALED_LEN:
            raise ParseError("sealed message", "length", f"{len(data)} bytes exceeds 64 MiB")
        suite = parse_header("sealed message", data, SEALED_MAGIC)
        start = HEADER.size + KEY_ID_LEN
        if len(data) < start + suite.enc_len + TAG_LEN:
            raise ParseError(
                "sealed message",
                "length",
                f"truncated: {len(data)} bytes, {suite.name} needs at least "
                f"{start + suite.enc_len + TAG_LEN}",
            )
        return cls(
            suite,
            data[HEADER.size : start],
            data[start : start + suite.enc_len],
            data[start + suite.enc_len :],
        )


def _hpke_info(header: bytes, info: bytes, aad: bytes) -> bytes:
    return (
        _INFO_LABEL
        + header
        + struct.pack(">I", len(info))
        + bytes(info)
        + hashlib.sha384(bytes(aad)).digest()
    )


def seal(recipient: PublicKey | bytes, plaintext: bytes, *, info: bytes, aad: bytes = b"") -> bytes:
    """Encrypt `plaintext` to `recipient` (a PublicKey or its tagged encoding).

    `info` names the purpose (e.g. b"elsewhere/secret/v1"), `aad` binds context such as the
    assignment id; the opener must pass the same two values. Returns the sealed encoding.
    """
    key = recipient if isinstance(recipient, PublicKey) else PublicKey.parse(recipient)
    if len(plaintext) > MAX_SEALED_LEN - 2048:
        raise HpkeError(f"plaintext of {len(plaintext)} bytes is too large to seal (64 MiB)")
    header = HEADER.pack(SEALED_MAGIC, FORMAT_VERSION, *key.suite.ids()) + key.key_id()
    # cryptography's single-shot output is enc ‖ ciphertext, enc of the KEM's fixed length.
    out = key.suite.backend.encrypt(plaintext, key._backend, info=_hpke_info(header, info, aad))
    return header + out


def seal_to_keep(
    keep_public_key: bytes, plaintext: bytes, *, info: bytes, aad: bytes = b""
) -> bytes:
    """Seal a secret to a keep's tagged public key (the one bound into its evidence)."""
    return seal(keep_public_key, plaintext, info=info, aad=aad)


class PrivateKey:
    """An HPKE private key of one suite. Holds secret material: never log or repr it."""

    __slots__ = ("_backend", "_public", "_secret", "suite")

    def __init__(self, suite: HpkeSuite, secret: bytes) -> None:
        if len(secret) != suite.secret_len:
            raise ParseError(
                "HPKE private key", "secret", f"{len(secret)} bytes, expected {suite.secret_len}"
            )
        self.suite = suite
        self._secret = bytes(secret)
        sk: x25519.X25519PrivateKey | hpke.MLKEM768X25519PrivateKey
        if suite is X25519:
            xk = x25519.X25519PrivateKey.from_private_bytes(self._secret)
            sk, raw = xk, xk.public_key().public_bytes_raw()
        else:
            # X-Wing key generation: SHAKE256(seed, 96) = ML-KEM seed (d ‖ z) ‖ X25519 key.
            expanded = hashlib.shake_256(self._secret).digest(96)
            mk = mlkem.MLKEM768PrivateKey.from_seed_bytes(expanded[:64])
            xk = x25519.X25519PrivateKey.from_private_bytes(expanded[64:])
            sk = hpke.MLKEM768X25519PrivateKey(mk, xk)
            raw = mk.public_key().public_bytes_raw() + xk.public_key().public_bytes_raw()
        self._backend = sk
        self._public = PublicKey(suite, raw)

    @classmethod
    def generate(cls, suite: HpkeSuite = DEFAULT_SUITE) -> Self:
        """A fresh key pair from the OS random source."""
        return cls(suite, os.urandom(suite.secret_len))

    @property
    def public_key(self) -> PublicKey:
        return self._public

    def public_bytes(self) -> bytes:
        """The tagged public-key encoding."""
        return self._public.encode()

    def secret_bytes(self) -> bytes:
        """The raw secret (32 bytes); only for writing a key file."""
        return self._secret

    def open(self, sealed: bytes, *, info: bytes, aad: bytes = b"") -> bytes:
        """Decrypt a message sealed to this key with the same `info` and `aad`.

        Raises ParseError for bytes that are not a sealed message, WrongRecipient when it was
        sealed to another key, OpenFailed when info/aad differ or the message was changed.
        """
        message = SealedMessage.parse(sealed)
        if message.suite is not self.suite:
            raise WrongRecipient(
                f"sealed with suite {message.suite.name}, this key is {self.suite.name}"
            )
        if message.recipient != self._public.key_id():
            raise WrongRecipient(
                f"sealed to key {message.recipient.hex()[:16]}…, "
                f"this key is {self._public.fingerprint()[:16]}…"
            )
        try:
            return self.suite.backend.decrypt(
                message.enc + message.ciphertext,
                self._backend,
                info=_hpke_info(message.header(), info, aad),
            )
        except (InvalidTag, ValueError):
            raise OpenFailed(
                "could not open sealed message: info or aad differ, or the message was changed"
            ) from None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.suite.name} {self._public.fingerprint()[:16]}>"


class KeepKey(PrivateKey):
    """A keep's key pair: generated fresh per assignment, held only in the keep's memory."""

    __slots__ = ()
