"""Strict DER for AMD's VCEK / VLEK extensions, decoded through asn1crypto.

asn1crypto parses BER leniently: it accepts long-form and non-minimal lengths, non-minimal
INTEGERs, and decodes an OBJECT IDENTIFIER whose last arc never ends by dropping that arc.
Each value here is therefore decoded by asn1crypto and then re-encoded (`dump(force=True)`);
input that does not re-encode to the same bytes is not DER and is refused, naming the first
byte that differs and why.
"""

from __future__ import annotations

from typing import TypeVar

from asn1crypto import core  # type: ignore[import-untyped]

from elsewhere.errors import ParseError

WHAT = "VEK extension"
# What asn1crypto raises for malformed input (UnicodeDecodeError is a ValueError).
DECODE_ERRORS = (ValueError, TypeError, OverflowError, KeyError)

A = TypeVar("A", bound=core.Asn1Value)


def first_line(error: Exception) -> str:
    return (str(error).split("\n", 1)[0][:120]) or type(error).__name__


def _header_length(raw: bytes) -> int:
    """Bytes of tag and length in front of the content (raw already parsed once)."""
    if len(raw) < 2:
        return len(raw)
    first = raw[1]
    return 2 if first < 0x80 else 2 + (first & 0x7F)


def _oid_problem(content: bytes, base: int) -> str | None:
    """Why an OBJECT IDENTIFIER's content is not DER, or None."""
    if not content:
        return "empty OBJECT IDENTIFIER"
    if content[-1] & 0x80:
        return f"final arc does not end (byte {base + len(content) - 1} has bit 8 set)"
    start = True
    for index, byte in enumerate(content):
        if start and byte == 0x80:
            return f"arc padded with a leading 0x80 at byte {base + index}"
        start = not byte & 0x80
    return None


def _not_der(raw: bytes, canonical: bytes) -> str:
    """Name the first byte where `raw` is not the DER encoding `canonical`."""
    header = _header_length(raw)
    if raw[:1] == b"\x06":
        problem = _oid_problem(raw[header:], header)
        if problem:
            return problem
    if len(raw) > 1 and raw[1] >= 0x80 and (raw[1] & 0x7F == 0 or canonical[1] != raw[1]):
        return f"length at byte 1 is not in minimal DER form ({raw[1:header].hex()})"
    index = next(
        (i for i, (a, b) in enumerate(zip(raw, canonical, strict=False)) if a != b),
        min(len(raw), len(canonical)),
    )
    return f"not DER at byte {index} (non-minimal encoding)"


def decode(spec: type[A], raw: bytes, where: str) -> A:
    """`raw` as exactly one DER value of `spec`; ParseError naming where and why otherwise."""
    name = spec.__name__
    try:
        value = spec.load(raw)
        _ = value.native  # asn1crypto parses contents lazily: force it here
    except DECODE_ERRORS as error:
        raise ParseError(WHAT, where, f"not a DER {name} ({first_line(error)})") from None
    used = len(value.dump())
    if used != len(raw):
        raise ParseError(
            WHAT, where, f"{len(raw) - used} trailing bytes after the {name} at byte {used}"
        )
    try:
        canonical = value.dump(force=True)
    except DECODE_ERRORS as error:
        raise ParseError(WHAT, where, f"not a DER {name} ({first_line(error)})") from None
    if canonical != raw:
        raise ParseError(WHAT, where, f"{name}: {_not_der(raw, canonical)}")
    return value  # type: ignore[no-any-return]  # asn1crypto is untyped


def check_oid(oid: core.ObjectIdentifier, where: str) -> str:
    """The dotted form of an OID, refusing the encodings asn1crypto would silently repair."""
    raw = oid.dump()
    problem = _oid_problem(oid.contents or b"", _header_length(raw))
    if problem:
        raise ParseError(WHAT, where, f"OBJECT IDENTIFIER {raw.hex()}: {problem}")
    return str(decode(core.ObjectIdentifier, raw, where).dotted)


def der_integer(value: int) -> bytes:
    return bytes(core.Integer(value).dump())


def der_ia5(text: str) -> bytes:
    return bytes(core.IA5String(text).dump())
