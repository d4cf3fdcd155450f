"""PCK certificate SGX extensions (OID 1.2.840.113741.1.13.1): FMSPC, TCB, PCE-ID, CA type.

The extension is a DER SEQUENCE OF {OID, value} entries, two of them (TCB, Configuration)
nested the same way. pyca `cryptography` hands it over as raw bytes; `asn1crypto` decodes it
against the declared structure. Refused, with the entry's OID or index: trailing bytes, BER
(indefinite or non-minimal lengths), unterminated OID arcs, duplicated OIDs, wrong value types.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from asn1crypto import core, parser  # type: ignore[import-untyped]
from cryptography import x509

from elsewhere.errors import ParseError

SGX_EXTENSIONS_OID = x509.ObjectIdentifier("1.2.840.113741.1.13.1")
_PREFIX = "1.2.840.113741.1.13.1"
_NESTED = frozenset({f"{_PREFIX}.2", f"{_PREFIX}.7"})  # TCB, Configuration
SGX_TYPES = {0: "Standard", 1: "Scalable", 2: "ScalableWithIntegrity"}


class _Entry(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar[list[tuple[str, Any]]] = [
        ("id", core.ObjectIdentifier),
        ("value", core.Any),
    ]


class _Entries(core.SequenceOf):  # type: ignore[misc]
    _child_spec: ClassVar[type] = _Entry


@dataclass(frozen=True, slots=True)
class PckExtensions:
    ppid: bytes
    sgx_tcb_comps: tuple[int, ...]  # 16 component SVNs
    pcesvn: int
    cpusvn: bytes
    pceid: bytes
    fmspc: bytes
    sgx_type: int
    ca: str  # "processor" | "platform", from the issuer CN


Fields = dict[str, tuple[int, bytes]]  # OID → (universal tag, contents)


def _refuse(where: str, why: str) -> ParseError:
    return ParseError("PCK certificate", f"SGX extension {where}", why)


def _der(encoded: bytes, what: str) -> None:
    """DER, not BER: the header asn1crypto read must be the minimal definite one."""
    klass, method, tag, _, contents, _ = parser.parse(encoded, strict=True)
    if parser.emit(klass, method, tag, contents) != encoded:
        raise ValueError(f"{what}: length is not DER (indefinite or not minimal)")


def _entries(raw: bytes, where: str, out: Fields) -> None:
    """Decode one SEQUENCE OF {OID, value} into `out`, recursing into the nested ones."""
    try:
        entries = _Entries.load(raw, strict=True)
        _der(raw, "the SEQUENCE")
        decoded = []
        for index, entry in enumerate(entries):
            oid_der = entry["id"]
            value = entry["value"].parsed
            for part, encoded in (("", entry.dump()), (" OID", oid_der.dump())):
                _der(encoded, f"entry {index}{part}")
            _der(value.dump(), f"entry {index} value")
            if not oid_der.contents or oid_der.contents[-1] & 0x80:
                raise ValueError(f"entry {index}: OID has an unterminated arc")
            decoded.append(
                (index, oid_der.dotted, value.tag, value.class_, value.contents, value.dump())
            )
    except (ValueError, TypeError, KeyError) as error:
        raise _refuse(where, " ".join(str(error).split())) from None
    for index, oid, tag, klass, contents, encoded in decoded:
        if oid in out:
            raise _refuse(where, f"entry {index}: {oid} appears twice")
        if klass != 0:
            raise _refuse(oid, "value is not a universal ASN.1 type")
        out[oid] = (tag, contents or b"")
        if oid in _NESTED:
            if tag != 16:
                raise _refuse(oid, "expected a SEQUENCE")
            _entries(encoded, oid, out)


def _int(fields: Fields, oid: str) -> int:
    tag, value = _need(fields, oid)
    if tag not in (2, 10) or not value or len(value) > 3:  # INTEGER or ENUMERATED
        raise _refuse(oid, "expected a small INTEGER")
    return int.from_bytes(value, "big", signed=True)


def _octets(fields: Fields, oid: str, size: int) -> bytes:
    tag, value = _need(fields, oid)
    if tag != 4 or len(value) != size:
        raise _refuse(oid, f"expected a {size}-byte OCTET STRING")
    return value


def _need(fields: Fields, oid: str) -> tuple[int, bytes]:
    if oid not in fields:
        raise _refuse(_PREFIX, f"missing {oid}")
    return fields[oid]


def decode_sgx_extension(raw: bytes) -> Fields:
    """The extension's DER → {OID: (tag, contents)} over every level; ParseError if malformed."""
    fields: Fields = {}
    _entries(raw, _PREFIX, fields)
    return fields


def parse_pck_extensions(cert: x509.Certificate) -> PckExtensions:
    try:
        ext = cert.extensions.get_extension_for_oid(SGX_EXTENSIONS_OID)
        issuer = cert.issuer.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    except x509.ExtensionNotFound:
        raise ParseError("PCK certificate", "extensions", "no Intel SGX extension") from None
    except (ValueError, TypeError, x509.DuplicateExtension) as error:
        # DuplicateExtension is not a ValueError: an extension twice is malformed input too.
        raise ParseError("PCK certificate", "extensions", str(error)) from None
    raw = ext.value.value if isinstance(ext.value, x509.UnrecognizedExtension) else b""
    fields = decode_sgx_extension(raw)
    comps = tuple(_int(fields, f"{_PREFIX}.2.{i}") for i in range(1, 17))
    issuer_cn = str(issuer[0].value) if issuer else ""
    ca = "processor" if "Processor" in issuer_cn else "platform" if "Platform" in issuer_cn else ""
    if not ca:
        raise ParseError("PCK certificate", "issuer", f"{issuer_cn!r} is not a PCK CA")
    return PckExtensions(
        ppid=_octets(fields, f"{_PREFIX}.1", 16),
        sgx_tcb_comps=comps,
        pcesvn=_int(fields, f"{_PREFIX}.2.17"),
        cpusvn=_octets(fields, f"{_PREFIX}.2.18", 16),
        pceid=_octets(fields, f"{_PREFIX}.3", 2),
        fmspc=_octets(fields, f"{_PREFIX}.4", 6),
        sgx_type=_int(fields, f"{_PREFIX}.5"),
        ca=ca,
    )
