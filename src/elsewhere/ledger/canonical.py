"""RFC 8785 (JSON Canonicalization Scheme) bytes for ledger entries.

The leaf is the canonical bytes themselves, so two parties that hold the same JSON object
compute the same leaf hash without agreeing on whitespace or key order.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import rfc8785

from elsewhere.errors import InputError

# tlog-tiles entry bundles prefix each entry with a uint16 length, so an entry must fit in it.
MAX_ENTRY_BYTES = 65535


def canonical_bytes(entry: Mapping[str, Any]) -> bytes:
    """The RFC 8785 encoding of one JSON object, refused when it is not a plain JSON object."""
    if not isinstance(entry, Mapping):
        raise InputError("ledger entry", "", f"must be a JSON object, not {type(entry).__name__}")
    try:
        if _check_json(entry, "$"):
            # No floats and only ASCII keys: RFC 8785 output is then exactly what the C JSON
            # encoder writes with sorted keys and no whitespace (tests hold the two equal).
            data = json.dumps(
                entry, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False
            ).encode("utf-8")
        else:
            data = rfc8785.dumps(dict(entry))
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as error:
        raise InputError("ledger entry", "", f"cannot be canonicalised: {error}") from None
    if len(data) > MAX_ENTRY_BYTES:
        raise InputError(
            "ledger entry", "", f"{len(data)} bytes canonical; at most {MAX_ENTRY_BYTES} allowed"
        )
    return data


def parse_entry_bytes(data: bytes, where: str = "entry") -> dict[str, Any]:
    """Parse stored or bundled entry bytes and insist they are already canonical."""
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise InputError("ledger entry", where, f"not UTF-8 JSON: {error}") from None
    if not isinstance(value, dict):
        raise InputError("ledger entry", where, "must be a JSON object")
    if canonical_bytes(value) != data:
        raise InputError("ledger entry", where, "not in RFC 8785 canonical form")
    return value


MAX_SAFE_INTEGER = 2**53 - 1  # I-JSON: integers beyond this do not survive a round trip


def _check_json(value: Any, path: str, depth: int = 0) -> bool:
    """Refuse what is not JSON; True when the value has no floats and only ASCII keys."""
    if depth > 64:
        raise InputError("ledger entry", path, "nested deeper than 64 levels")
    if value is None or isinstance(value, bool | str):
        return True
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise InputError("ledger entry", path, "integers must be within ±(2^53 − 1)")
        return True
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InputError("ledger entry", path, "numbers must be finite")
        return False
    simple = True
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InputError("ledger entry", path, "object keys must be strings")
            simple = _check_json(item, f"{path}.{key}", depth + 1) and simple and key.isascii()
        return simple
    if isinstance(value, list):
        for number, item in enumerate(value):
            simple = _check_json(item, f"{path}[{number}]", depth + 1) and simple
        return simple
    raise InputError("ledger entry", path, f"{type(value).__name__} is not a JSON value")
