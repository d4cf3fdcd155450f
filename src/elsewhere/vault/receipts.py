"""Erasure receipts: what a data subject is handed after its data was crypto-shredded.

A receipt is a JSON object:

    {"format": "elsewhere.vault.receipt/1",
     "note":   signed note (C2SP) by the ledger's key over the text below,
     "salt":   hex, "bundle": base64 c2sp tlog-proof of the `vault.erased` entry}

    text = "elsewhere.vault.receipt/1\n" origin "\n" tenant "\n" subject hash "\n"
           commitment "\n" ledger index "\n" erased at "\n"
    commitment = SHA-256(salt ‖ subject id)

so the subject (who knows its own id, but not the HMAC key behind the subject hash) checks
that the receipt names it, that the ledger's key signed it, and that the log holds the
erasure entry for that hash (inclusion proof to a signed checkpoint) — offline, with the
log's verifier key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from elsewhere.errors import ParseError, VerificationFailed
from elsewhere.ledger.bundle import verify_bundle
from elsewhere.ledger.checkpoint import LogKeys, log_keys
from elsewhere.ledger.note import Note, Signer, parse_note, sign_note, verify_note
from elsewhere.vault.entries import ERASED

FORMAT = "elsewhere.vault.receipt/1"
MAX_RECEIPT_BYTES = 64 * 1024


def commitment(salt: bytes, subject: str) -> str:
    return hashlib.sha256(salt + subject.encode()).hexdigest()


@dataclass(frozen=True)
class Receipt:
    origin: str
    tenant: str
    subject_hash: str
    commitment: str
    index: int
    erased_at: str

    def text(self) -> str:
        fields = (
            FORMAT,
            self.origin,
            self.tenant,
            self.subject_hash,
            self.commitment,
            str(self.index),
            self.erased_at,
        )
        return "".join(f + "\n" for f in fields)


def issue(receipt: Receipt, salt: bytes, bundle: bytes, signer: Signer) -> bytes:
    note = sign_note(receipt.text(), signer)
    document = {
        "format": FORMAT,
        "note": note.to_bytes().decode(),
        "salt": salt.hex(),
        "bundle": base64.b64encode(bundle).decode(),
    }
    return json.dumps(document, indent=1).encode() + b"\n"


def _fields(note: Note) -> Receipt:
    lines = note.text.split("\n")[:-1]
    if len(lines) != 7 or lines[0] != FORMAT:
        raise ParseError("erasure receipt", "note", f"not a {FORMAT} text")
    try:
        index = int(lines[5])
    except ValueError:
        raise ParseError("erasure receipt", "note", "ledger index is not a number") from None
    return Receipt(lines[1], lines[2], lines[3], lines[4], index, lines[6])


def verify(data: bytes, log_key: LogKeys, subject: str | None = None) -> Receipt:
    """Check a receipt offline; with `subject`, that it names that subject."""
    if len(data) > MAX_RECEIPT_BYTES:
        raise ParseError("erasure receipt", "", f"larger than {MAX_RECEIPT_BYTES} bytes")
    try:
        document: Any = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ParseError("erasure receipt", "", "not JSON") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ParseError("erasure receipt", "format", f"expected {FORMAT}")
    try:
        note = parse_note(str(document["note"]).encode(), "erasure receipt note")
        salt = bytes.fromhex(str(document["salt"]))
        bundle = base64.b64decode(str(document["bundle"]), validate=True)
    except KeyError as missing:
        raise ParseError("erasure receipt", str(missing), "missing") from None
    except (ValueError, binascii.Error):
        raise ParseError("erasure receipt", "salt/bundle", "not hex/base64") from None
    verify_note(note, log_keys(log_key))
    receipt = _fields(note)
    if subject is not None and commitment(salt, subject) != receipt.commitment:
        raise VerificationFailed("erasure receipt: it does not name this subject")
    proven = verify_bundle(bundle, log_key, origin=receipt.origin)
    entry = proven.entry
    if (
        proven.index != receipt.index
        or entry.get("kind") != ERASED
        or entry.get("subject") != receipt.subject_hash
        or entry.get("tenant") != receipt.tenant
    ):
        raise VerificationFailed("erasure receipt: the proven ledger entry is not this erasure")
    return receipt
