"""Backup files, each encrypted under the key of one backup epoch.

    "elsewhere.vault.backup/1\n" header-JSON "\n" nonce ‖ AES-256-GCM(epoch key, payload, aad)
    header  = {"epoch": id, "created_at": …, "subjects": n}
    aad     = EPOCH_LABEL ‖ 0x00 ‖ epoch id ‖ 0x00 ‖ header bytes

The payload (JSON) holds subject rows as stored: wrapped data keys (still under the KEK),
record ciphertexts, purposes, the date of birth. Nothing in a backup is in clear but the
header. Expiring an epoch destroys its key (control/vault/backups.py): every backup of that
epoch then no longer opens, whatever copies of the file exist.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from elsewhere.errors import ParseError
from elsewhere.vault.keys import NONCE, TAG, epoch_aad, open_into, seal

MAGIC = b"elsewhere.vault.backup/1\n"
MAX_HEADER = 4096


@dataclass(frozen=True)
class Header:
    epoch: str
    created_at: str
    subjects: int

    def to_bytes(self) -> bytes:
        return json.dumps(
            {"epoch": self.epoch, "created_at": self.created_at, "subjects": self.subjects},
            sort_keys=True,
        ).encode()


def encode(header: Header, payload: dict[str, Any], epoch_key: bytearray) -> bytes:
    head = header.to_bytes()
    body = json.dumps(payload, sort_keys=True).encode()
    return MAGIC + head + b"\n" + seal(epoch_key, body, epoch_aad(header.epoch) + b"\x00" + head)


def read_header(data: bytes) -> tuple[Header, bytes, bytes]:
    """The header, its bytes and the sealed payload of a backup file."""
    if not data.startswith(MAGIC):
        raise ParseError("vault backup", "magic", "not an elsewhere.vault.backup/1 file")
    end = data.find(b"\n", len(MAGIC), len(MAGIC) + MAX_HEADER)
    if end < 0:
        raise ParseError("vault backup", "header", "no header line")
    head = data[len(MAGIC) : end]
    try:
        value = json.loads(head)
        header = Header(str(value["epoch"]), str(value["created_at"]), int(value["subjects"]))
    except (ValueError, KeyError, TypeError):
        raise ParseError("vault backup", "header", "not the expected JSON object") from None
    sealed = data[end + 1 :]
    if len(sealed) < NONCE + TAG:
        raise ParseError("vault backup", "payload", "truncated")
    return header, head, sealed


def decode(data: bytes, epoch_key: bytearray) -> tuple[Header, dict[str, Any]]:
    header, head, sealed = read_header(data)
    out = bytearray(len(sealed) - NONCE - TAG)
    open_into(epoch_key, sealed, epoch_aad(header.epoch) + b"\x00" + head, out)
    try:
        payload = json.loads(bytes(out))
    except ValueError:
        raise ParseError("vault backup", "payload", "not JSON") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("subjects"), list):
        raise ParseError("vault backup", "payload", "no subject list")
    return header, payload
