"""Canonical JSON (RFC 8785, as the ledger encodes entries) and small checked readers."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from typing import Any

from elsewhere.errors import InputError
from elsewhere.ledger.canonical import canonical_bytes

__all__ = ["b64", "canonical_bytes", "check_name", "field", "unb64"]

_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


def check_name(what: str, value: object) -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise InputError(what, repr(value)[:80], "use 1-64 of a-z 0-9 . _ - (starting a-z 0-9)")
    return value


def field(doc: Mapping[str, Any], what: str, name: str, kind: type) -> Any:
    """doc[name], which must be of `kind`; InputError naming the field otherwise."""
    if not isinstance(doc, Mapping):
        raise InputError(what, "", "must be a JSON object")
    if name not in doc:
        raise InputError(what, name, "missing field")
    value = doc[name]
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise InputError(what, name, "must be an integer")
    if kind is float and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise InputError(what, name, "must be a number")
    if kind not in (int, float) and not isinstance(value, kind):
        raise InputError(what, name, f"must be a {kind.__name__}")
    return value


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(what: str, name: str, text: object) -> bytes:
    if not isinstance(text, str):
        raise InputError(what, name, "must be a base64 string")
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise InputError(what, name, "not base64") from None
