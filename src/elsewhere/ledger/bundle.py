"""Offline proof bundle for one entry, in the c2sp.org/tlog-proof@v1 text format:

    c2sp.org/tlog-proof@v1
    extra <base64 of the entry's canonical JSON bytes>
    index <n>
    <inclusion proof, one base64 hash per line, leaf sibling first>

    <signed checkpoint, verbatim, with any witness cosignatures>

The spec leaves `extra` to the application; here it carries the entry itself, so the bundle
alone is enough. Nothing in it is trusted: the verifier rehashes the entry and checks the
inclusion proof against a checkpoint signed by the key it was given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from elsewhere.errors import ParseError, VerificationFailed
from elsewhere.ledger.canonical import MAX_ENTRY_BYTES, parse_entry_bytes
from elsewhere.ledger.checkpoint import (
    LogKeys,
    SignedCheckpoint,
    cosigned_by,
    open_checkpoint,
    parse_signed_checkpoint,
)
from elsewhere.ledger.merkle import HASH_SIZE, leaf_hash, verify_inclusion
from elsewhere.ledger.note import Verifier, b64decode, b64encode

HEADER = "c2sp.org/tlog-proof@v1"
MAX_PROOF_HASHES = 64
MAX_BUNDLE_BYTES = 1 << 20


@dataclass(frozen=True)
class Bundle:
    index: int
    proof: tuple[bytes, ...]
    checkpoint: SignedCheckpoint
    entry: bytes | None = None  # canonical entry bytes, carried in `extra`

    def to_bytes(self) -> bytes:
        lines = [HEADER]
        if self.entry is not None:
            lines.append(f"extra {b64encode(self.entry)}")
        lines.append(f"index {self.index}")
        lines.extend(b64encode(h) for h in self.proof)
        head = "".join(line + "\n" for line in lines) + "\n"
        return head.encode() + self.checkpoint.to_bytes()


def parse_bundle(data: bytes) -> Bundle:
    if len(data) > MAX_BUNDLE_BYTES:
        raise ParseError("proof bundle", "", f"larger than {MAX_BUNDLE_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ParseError("proof bundle", f"byte {error.start}", "not UTF-8") from None
    head, separator, rest = text.partition("\n\n")
    if not separator:
        raise ParseError("proof bundle", "", "no blank line before the checkpoint")
    lines = head.split("\n")
    if lines[0] != HEADER:
        raise ParseError("proof bundle", "line 1", f"must be {HEADER!r}")
    position = 1
    entry = None
    if position < len(lines) and lines[position].startswith("extra "):
        entry = b64decode(lines[position][6:], "proof bundle", "extra line")
        if len(entry) > MAX_ENTRY_BYTES:
            raise ParseError("proof bundle", "extra line", "entry larger than 65535 bytes")
        position += 1
    if position >= len(lines) or not lines[position].startswith("index "):
        raise ParseError("proof bundle", f"line {position + 1}", "expected 'index <n>'")
    index_text = lines[position][6:]
    if not (index_text.isascii() and index_text.isdigit()) or index_text != str(int(index_text)):
        raise ParseError("proof bundle", "index line", f"{index_text!r} is not a plain decimal")
    hashes = lines[position + 1 :]
    if len(hashes) > MAX_PROOF_HASHES:
        raise ParseError("proof bundle", "proof", f"more than {MAX_PROOF_HASHES} hashes")
    proof = []
    for number, line in enumerate(hashes, 1):
        value = b64decode(line, "proof bundle", f"proof hash {number}")
        if len(value) != HASH_SIZE:
            raise ParseError("proof bundle", f"proof hash {number}", "not 32 bytes")
        proof.append(value)
    checkpoint = parse_signed_checkpoint(rest.encode())
    return Bundle(int(index_text), tuple(proof), checkpoint, entry)


@dataclass(frozen=True)
class VerifiedEntry:
    index: int
    entry: dict[str, Any]
    checkpoint: SignedCheckpoint
    witnesses: tuple[str, ...]


def verify_bundle(
    data: bytes,
    log_key: LogKeys,
    *,
    entry: bytes | None = None,
    witnesses: Sequence[Verifier] = (),
    quorum: int = 0,
    origin: str | None = None,
) -> VerifiedEntry:
    """Verify a bundle offline. `entry` (canonical bytes) is needed when the bundle has no
    `extra` line, and must match it when it does."""
    bundle = parse_bundle(data)
    if entry is not None and bundle.entry is not None and entry != bundle.entry:
        raise VerificationFailed("the entry given is not the entry in the bundle")
    body = entry if entry is not None else bundle.entry
    if body is None:
        raise ParseError("proof bundle", "extra line", "absent; give the entry separately")
    value = parse_entry_bytes(body, "bundle entry")
    signed = open_checkpoint(
        bundle.checkpoint.to_bytes(), log_key, witnesses, quorum, origin=origin
    )
    verify_inclusion(bundle.index, signed.size, leaf_hash(body), bundle.proof, signed.root)
    return VerifiedEntry(bundle.index, value, signed, tuple(cosigned_by(signed, witnesses)))
