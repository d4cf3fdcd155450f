"""PCK certificate SGX extensions (OID 1.2.840.113741.1.13.1): FMSPC, TCB, PCE-ID, CA type.

The extension is a DER SEQUENCE of (OID, value) pairs, some nested (TCB, Configuration).
pyca `cryptography` hands it over as raw bytes; this module reads just enough DER for it.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509

from elsewhere.errors import ParseError

SGX_EXTENSIONS_OID = x509.ObjectIdentifier("1.2.840.113741.1.13.1")
_PREFIX = "1.2.840.113741.1.13.1"
SGX_TYPES = {0: "Standard", 1: "Scalable", 2: "ScalableWithIntegrity"}


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


def _tlv(data: bytes, pos: int, where: str) -> tuple[int, bytes, int]:
    """One DER TLV at pos → (tag, value, next position)."""
    if pos + 2 > len(data):
        raise ParseError("PCK certificate", where, "SGX extension is truncated")
    tag, first = data[pos], data[pos + 1]
    pos += 2
    if first & 0x80:
        count = first & 0x7F
        if count == 0 or count > 3 or pos + count > len(data):
            raise ParseError("PCK certificate", where, "SGX extension has a bad DER length")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    else:
        length = first
    if pos + length > len(data):
        raise ParseError("PCK certificate", where, "SGX extension is truncated")
    return tag, data[pos : pos + length], pos + length


def _oid_text(value: bytes) -> str:
    if not value:
        raise ParseError("PCK certificate", "SGX extension", "empty OID")
    parts = [value[0] // 40, value[0] % 40] if value[0] < 80 else [2, value[0] - 80]
    acc = 0
    for byte in value[1:]:
        acc = (acc << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(acc)
            acc = 0
    return ".".join(map(str, parts))


def _walk(data: bytes, out: dict[str, tuple[int, bytes]], where: str) -> None:
    """Flatten SEQUENCE { SEQUENCE { OID, value } ... } into {oid: (tag, value)}, recursing."""
    pos = 0
    while pos < len(data):
        tag, entry, pos = _tlv(data, pos, where)
        if tag != 0x30:
            raise ParseError("PCK certificate", where, f"SGX extension entry tag {tag:#x}")
        oid_tag, oid_raw, inner = _tlv(entry, 0, where)
        if oid_tag != 0x06:
            raise ParseError("PCK certificate", where, "SGX extension entry without an OID")
        oid = _oid_text(oid_raw)
        value_tag, value, _ = _tlv(entry, inner, oid)
        out[oid] = (value_tag, value)
        if value_tag == 0x30:
            _walk(value, out, oid)


def _int(fields: dict[str, tuple[int, bytes]], oid: str) -> int:
    tag, value = _need(fields, oid)
    if tag not in (0x02, 0x0A) or not value or len(value) > 3:
        raise ParseError("PCK certificate", oid, "expected a small INTEGER")
    return int.from_bytes(value, "big", signed=True)


def _octets(fields: dict[str, tuple[int, bytes]], oid: str, size: int) -> bytes:
    tag, value = _need(fields, oid)
    if tag != 0x04 or len(value) != size:
        raise ParseError("PCK certificate", oid, f"expected a {size}-byte OCTET STRING")
    return value


def _need(fields: dict[str, tuple[int, bytes]], oid: str) -> tuple[int, bytes]:
    if oid not in fields:
        raise ParseError("PCK certificate", "SGX extension", f"missing {oid}")
    return fields[oid]


def parse_pck_extensions(cert: x509.Certificate) -> PckExtensions:
    try:
        ext = cert.extensions.get_extension_for_oid(SGX_EXTENSIONS_OID)
    except x509.ExtensionNotFound:
        raise ParseError("PCK certificate", "extensions", "no Intel SGX extension") from None
    except ValueError as error:
        raise ParseError("PCK certificate", "extensions", str(error)) from None
    raw = ext.value.value if isinstance(ext.value, x509.UnrecognizedExtension) else b""
    tag, entries, _ = _tlv(raw, 0, _PREFIX)
    if tag != 0x30:
        raise ParseError("PCK certificate", _PREFIX, "SGX extension is not a SEQUENCE")
    fields: dict[str, tuple[int, bytes]] = {}
    _walk(entries, fields, _PREFIX)
    comps = tuple(_int(fields, f"{_PREFIX}.2.{i}") for i in range(1, 17))
    issuer = cert.issuer.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
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
