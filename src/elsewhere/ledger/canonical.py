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
    _check_json(entry, "$")
    try:
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


def _check_json(value: Any, path: str, depth: int = 0) -> None:
    # rfc8785 accepts some Python values that are not JSON (tuples, NaN as an error); be explicit.
    if depth > 64:
        raise InputError("ledger entry", path, "nested deeper than 64 levels")
    if value is None or isinstance(value, bool | str):
        return
    if isinstance(value, int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InputError("ledger entry", path, "numbers must be finite")
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InputError("ledger entry", path, "object keys must be strings")
            _check_json(item, f"{path}.{key}", depth + 1)
        return
    if isinstance(value, list | tuple):
        for number, item in enumerate(value):
            _check_json(item, f"{path}[{number}]", depth + 1)
        return
    raise InputError("ledger entry", path, f"{type(value).__name__} is not a JSON value")
