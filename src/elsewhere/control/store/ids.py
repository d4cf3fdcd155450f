"""Small wire helpers: identifiers (`dep_3f9a0c1e2b4d5a6f`: a kind prefix and 64 random
bits) and base64 fields decoded with a one-line error naming the field."""

from __future__ import annotations

import base64
import binascii
import secrets

from elsewhere.errors import InputError


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


def from_b64(what: str, text: str, limit: int | None = None) -> bytes:
    """Decode a base64 field; InputError naming `what` if it is not base64 or too large."""
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InputError(what, "value", "not base64") from None
    if limit is not None and len(data) > limit:
        raise InputError(what, "size", f"larger than {limit} bytes")
    return data
