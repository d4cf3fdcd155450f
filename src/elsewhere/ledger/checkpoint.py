"""C2SP tlog-checkpoint: the signed statement "the log `origin` has `size` entries whose
Merkle root is `root`". A checkpoint is a signed note whose text is that statement."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from elsewhere.errors import ParseError, VerificationFailed
from elsewhere.ledger.merkle import HASH_SIZE
from elsewhere.ledger.note import (
    COSIGNATURE_V1,
    Note,
    Signer,
    Verifier,
    b64decode,
    b64encode,
    parse_note,
    sign_note,
    verify_note,
)

MAX_SIZE = (1 << 63) - 1


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def text(self) -> str:
        lines = [self.origin, str(self.size), b64encode(self.root), *self.extensions]
        return "".join(line + "\n" for line in lines)

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        if not text.endswith("\n"):
            raise ParseError("checkpoint", "text", "must end with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise ParseError("checkpoint", "text", "needs origin, size and root hash lines")
        origin, size_text, root_text, *extensions = lines
        if not origin or origin != origin.strip():
            raise ParseError("checkpoint", "origin line", "must be non-empty, no edge spaces")
        if not size_text.isascii() or not size_text.isdigit():
            raise ParseError("checkpoint", "size line", f"{size_text!r} is not a decimal")
        if size_text != str(int(size_text)):
            raise ParseError("checkpoint", "size line", "leading zeros are not allowed")
        size = int(size_text)
        if size > MAX_SIZE:
            raise ParseError("checkpoint", "size line", "larger than 2^63 − 1")
        root = b64decode(root_text, "checkpoint", "root hash line")
        if len(root) != HASH_SIZE:
            raise ParseError("checkpoint", "root hash line", f"{len(root)} bytes, not 32")
        if any(not line for line in extensions):
            raise ParseError("checkpoint", "extension lines", "must not be empty")
        return cls(origin, size, root, tuple(extensions))


@dataclass(frozen=True)
class SignedCheckpoint:
    checkpoint: Checkpoint
    note: Note

    def to_bytes(self) -> bytes:
        return self.note.to_bytes()

    @property
    def size(self) -> int:
        return self.checkpoint.size

    @property
    def root(self) -> bytes:
        return self.checkpoint.root

    @property
    def origin(self) -> str:
        return self.checkpoint.origin

    def cosign(self, witness: Signer, timestamp: int) -> SignedCheckpoint:
        """Add a cosignature/v1 line. A witness calls this only after it has checked this
        checkpoint is consistent with every one it cosigned before."""
        if witness.key_type != COSIGNATURE_V1:
            raise ValueError("a witness cosigns with a cosignature/v1 (type 0x04) key")
        signature = witness.sign(self.note.text.encode(), timestamp)
        return SignedCheckpoint(self.checkpoint, self.note.add(signature))


def sign_checkpoint(checkpoint: Checkpoint, signer: Signer) -> SignedCheckpoint:
    return SignedCheckpoint(checkpoint, sign_note(checkpoint.text(), signer))


def parse_signed_checkpoint(data: bytes) -> SignedCheckpoint:
    """Parse without verifying: use only to show or compare, never to trust."""
    note = parse_note(data, "signed checkpoint")
    return SignedCheckpoint(Checkpoint.parse(note.text), note)


LogKeys = Verifier | Sequence[Verifier]


def log_keys(keys: LogKeys) -> list[Verifier]:
    """The log's keys as a list: one, or every key it has signed with (after a rotation)."""
    found = [keys] if isinstance(keys, Verifier) else list(keys)
    if not found:
        raise ValueError("at least one log key is needed")
    return found


def open_checkpoint(
    data: bytes,
    log_key: LogKeys,
    witnesses: Sequence[Verifier] = (),
    quorum: int = 0,
    origin: str | None = None,
) -> SignedCheckpoint:
    """Parse and verify: a signature by one of the log's keys (every one of them present
    must verify), the origin (default: the first key's name) and at least `quorum` valid
    cosignatures among `witnesses`."""
    keys = log_keys(log_key)
    signed = parse_signed_checkpoint(data)
    expected = origin if origin is not None else keys[0].name
    if signed.origin != expected:
        raise VerificationFailed(
            f"checkpoint origin {signed.origin!r} is not the expected {expected!r}"
        )
    verify_note(signed.note, [k for k in keys if k.key_type != COSIGNATURE_V1])
    if witnesses or quorum:
        names = cosigned_by(signed, witnesses)
        if len(names) < quorum:
            raise VerificationFailed(
                f"checkpoint has {len(names)} valid witness cosignatures; policy needs {quorum}"
            )
    return signed


def cosigned_by(signed: SignedCheckpoint, witnesses: Sequence[Verifier]) -> list[str]:
    """Names of the witnesses whose cosignature on this checkpoint verifies."""
    cosigners = [w for w in witnesses if w.key_type == COSIGNATURE_V1]
    good = verify_note(signed.note, cosigners, require_one=False)
    return sorted({verifier.name for verifier in good})
