"""C2SP signed notes (c2sp.org/signed-note) with Ed25519 keys, and Ed25519 cosignatures
(c2sp.org/tlog-cosignature, type 0x04).

Key strings:
  verifier  name+hexkeyid+base64(type ‖ public key)
  signer    PRIVATE+KEY+name+hexkeyid+base64(0x01 ‖ seed)        (Go x/mod/sumdb/note)
Key ID = SHA-256(name ‖ 0x0A ‖ type ‖ public key)[:4].
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from elsewhere.errors import ParseError, VerificationFailed

ED25519 = 0x01
COSIGNATURE_V1 = 0x04
DASH = "\u2014"
MAX_NOTE_BYTES = 1 << 20
MAX_SIGNATURES = 100  # the spec asks verifiers to accept at least 16


def b64decode(text: str, what: str, where: str = "") -> bytes:
    """Strict standard base64: padding required, no stray characters, canonical."""
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise ParseError(what, where, "not standard base64") from None
    if base64.b64encode(data).decode("ascii") != text:
        raise ParseError(what, where, "not canonical base64")
    return data


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def key_id(name: str, key_type: int, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([key_type]) + public).digest()[:4]


def check_key_name(name: str, what: str = "key name") -> None:
    if not name or any(c.isspace() or c == "+" for c in name):
        raise ParseError(what, repr(name), "must be non-empty, without spaces or '+'")
    if any(ord(c) < 0x20 for c in name):
        raise ParseError(what, repr(name), "must not contain control characters")


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


@dataclass(frozen=True)
class Verifier:
    """A note verifier key: Ed25519 (type 0x01) or Ed25519 cosignature (type 0x04)."""

    name: str
    key_type: int
    public: bytes

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.key_type, self.public)

    def vkey(self) -> str:
        return f"{self.name}+{self.key_id.hex()}+{b64encode(bytes([self.key_type]) + self.public)}"

    @classmethod
    def parse(cls, text: str) -> Verifier:
        parts = text.strip().split("+", 2)
        if len(parts) != 3:
            raise ParseError("verifier key", "", "expected name+keyid+base64(type‖key)")
        name, hex_id, blob = parts
        check_key_name(name, "verifier key name")
        if len(hex_id) != 8 or hex_id.lower() != hex_id:
            raise ParseError("verifier key", name, "key ID must be 8 lowercase hex digits")
        material = b64decode(blob, "verifier key", name)
        if len(material) != 33 or material[0] not in (ED25519, COSIGNATURE_V1):
            raise ParseError(
                "verifier key", name, "only Ed25519 (0x01) and cosignature/v1 (0x04) keys"
            )
        verifier = cls(name, material[0], material[1:])
        try:
            Ed25519PublicKey.from_public_bytes(verifier.public)
        except ValueError:
            raise ParseError("verifier key", name, "not an Ed25519 public key") from None
        if verifier.key_id.hex() != hex_id:
            raise ParseError("verifier key", name, "key ID does not match name and key")
        return verifier

    def check(self, text: bytes, signature: bytes) -> bool:
        """True when `signature` (the bytes after the 4-byte key ID) signs `text`."""
        public = Ed25519PublicKey.from_public_bytes(self.public)
        if self.key_type == COSIGNATURE_V1:
            if len(signature) != 72:
                return False
            (timestamp,) = struct.unpack(">Q", signature[:8])
            if timestamp >= 1 << 63:
                return False
            message, signature = cosigned_message(text, timestamp), signature[8:]
        else:
            message = text
        if len(signature) != 64:
            return False
        try:
            public.verify(signature, message)
        except InvalidSignature:
            return False
        return True


def cosigned_message(text: bytes, timestamp: int) -> bytes:
    return b"cosignature/v1\ntime %d\n" % timestamp + text


@dataclass(frozen=True)
class Signer:
    name: str
    key_type: int
    seed: bytes

    @classmethod
    def generate(cls, name: str, key_type: int = ED25519) -> Signer:
        check_key_name(name)
        seed = Ed25519PrivateKey.generate().private_bytes_raw()
        return cls(name, key_type, seed)

    @property
    def private(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.from_private_bytes(self.seed)

    @property
    def verifier(self) -> Verifier:
        return Verifier(self.name, self.key_type, _raw_public(self.private.public_key()))

    def skey(self) -> str:
        verifier = self.verifier
        material = b64encode(bytes([self.key_type]) + self.seed)
        return f"PRIVATE+KEY+{self.name}+{verifier.key_id.hex()}+{material}"

    @classmethod
    def parse(cls, text: str) -> Signer:
        parts = text.strip().split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise ParseError("signer key", "", "expected PRIVATE+KEY+name+keyid+base64(type‖seed)")
        name, hex_id, blob = parts[2:]
        check_key_name(name, "signer key name")
        material = b64decode(blob, "signer key", name)
        if len(material) != 33 or material[0] not in (ED25519, COSIGNATURE_V1):
            raise ParseError("signer key", name, "only Ed25519 seeds (type 0x01 or 0x04)")
        signer = cls(name, material[0], material[1:])
        if signer.verifier.key_id.hex() != hex_id:
            raise ParseError("signer key", name, "key ID does not match name and key")
        return signer

    def sign(self, text: bytes, timestamp: int | None = None) -> Signature:
        """One signature line over note text (a cosignature needs `timestamp`)."""
        if self.key_type == COSIGNATURE_V1:
            if timestamp is None or not 0 <= timestamp < 1 << 63:
                raise ValueError("a cosignature needs a timestamp in [0, 2^63)")
            raw = struct.pack(">Q", timestamp) + self.private.sign(
                cosigned_message(text, timestamp)
            )
        else:
            raw = self.private.sign(text)
        return Signature(self.name, self.verifier.key_id, raw)


@dataclass(frozen=True)
class Signature:
    name: str
    key_id: bytes
    signature: bytes

    def line(self) -> str:
        return f"{DASH} {self.name} {b64encode(self.key_id + self.signature)}\n"


@dataclass(frozen=True)
class Note:
    text: str
    signatures: tuple[Signature, ...]

    def to_bytes(self) -> bytes:
        return (self.text + "\n" + "".join(s.line() for s in self.signatures)).encode()

    def add(self, *signatures: Signature) -> Note:
        return Note(self.text, self.signatures + signatures)


def check_text(text: str, what: str = "note") -> None:
    if not text.endswith("\n"):
        raise ParseError(what, "text", "must end with a newline")
    for c in text:
        if ord(c) < 0x20 and c != "\n":
            raise ParseError(what, "text", f"control character U+{ord(c):04X} not allowed")


def sign_note(text: str, *signers: Signer, timestamp: int | None = None) -> Note:
    check_text(text)
    return Note(text, tuple(s.sign(text.encode(), timestamp) for s in signers))


def parse_note(data: bytes, what: str = "signed note") -> Note:
    """Split a signed note into text and signature lines; no signature is checked here."""
    if len(data) > MAX_NOTE_BYTES:
        raise ParseError(what, "", f"larger than {MAX_NOTE_BYTES} bytes")
    try:
        whole = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ParseError(what, f"byte {error.start}", "not UTF-8") from None
    check_text(whole, what)
    split = whole.rfind("\n\n")
    if split < 0:
        raise ParseError(what, "", "no blank line before the signatures")
    text, block = whole[: split + 1], whole[split + 2 :]
    lines = block.split("\n")[:-1]
    if not lines:
        raise ParseError(what, "", "no signature lines")
    if len(lines) > MAX_SIGNATURES:
        raise ParseError(what, "", f"more than {MAX_SIGNATURES} signatures")
    signatures = []
    for number, line in enumerate(lines, 1):
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != DASH:
            raise ParseError(what, f"signature line {number}", "expected '— name base64'")
        check_key_name(parts[1], f"{what} signer name")
        raw = b64decode(parts[2], what, f"signature line {number}")
        if len(raw) < 5:
            raise ParseError(what, f"signature line {number}", "signature too short")
        signatures.append(Signature(parts[1], raw[:4], raw[4:]))
    return Note(text, tuple(signatures))


def verify_note(
    note: Note, verifiers: Sequence[Verifier], *, require_one: bool = True
) -> list[Verifier]:
    """Keys among `verifiers` that signed the note. Signatures by unknown (name, ID) pairs
    are ignored; a known key whose signature fails rejects the whole note; with
    `require_one`, so does a note that no known key signed."""
    known = {(v.name, v.key_id): v for v in verifiers}
    text = note.text.encode()
    good = []
    for signature in note.signatures:
        verifier = known.get((signature.name, signature.key_id))
        if verifier is None:
            continue
        if not verifier.check(text, signature.signature):
            raise VerificationFailed(f"signature by {verifier.name} does not verify")
        good.append(verifier)
    if require_one and not good:
        raise VerificationFailed("no signature by a known key")
    return good
