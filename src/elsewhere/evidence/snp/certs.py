"""VCEK / VLEK certificates and the SEV certificate table that carries them.

AMD's key distribution service puts the platform's TCB and identity into X.509 extensions
under 1.3.6.1.4.1.3704.1 (VCEK spec, 57230). This module reads them into a frozen record and
parses the GHCB certificate table (extended guest report, configfs-tsm `auxblob`).
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from elsewhere.errors import ParseError

AMD_ARC = "1.3.6.1.4.1.3704.1"
OID_STRUCT_VERSION = x509.ObjectIdentifier(f"{AMD_ARC}.1")
OID_PRODUCT_NAME = x509.ObjectIdentifier(f"{AMD_ARC}.2")
OID_HWID = x509.ObjectIdentifier(f"{AMD_ARC}.4")
OID_CSP_ID = x509.ObjectIdentifier(f"{AMD_ARC}.5")
# TCB component SPL extensions, named as in the claims.
TCB_OIDS: Mapping[str, x509.ObjectIdentifier] = MappingProxyType(
    {
        "bootloader": x509.ObjectIdentifier(f"{AMD_ARC}.3.1"),
        "tee": x509.ObjectIdentifier(f"{AMD_ARC}.3.2"),
        "snp": x509.ObjectIdentifier(f"{AMD_ARC}.3.3"),
        "microcode": x509.ObjectIdentifier(f"{AMD_ARC}.3.8"),
        "fmc": x509.ObjectIdentifier(f"{AMD_ARC}.3.9"),
    }
)
HWID_SIZES = (64, 8)  # Milan/Genoa: the whole CHIP_ID; Turin: its first 8 bytes

GUID_VCEK = uuid.UUID("63da758d-e664-4564-adc5-f4b93be8accd")
GUID_VLEK = uuid.UUID("a8074bc2-a25a-483e-aae6-39c045a0b8a1")
GUID_ASK = uuid.UUID("4ab7b379-bbac-4fe4-a02f-05aef327c782")  # also carries the ASVK
GUID_ARK = uuid.UUID("c0b406a4-a803-4952-9743-3fb6014cd0ae")
_ENTRY = struct.Struct("<16sII")
MAX_TABLE_ENTRIES = 64


# --- minimal DER for the few primitive types AMD's extensions use -------------------------


def _der_tlv(value: bytes, what: str) -> tuple[int, bytes]:
    """(tag, content) of one DER TLV that must span `value` exactly."""
    if len(value) < 2:
        raise ParseError("VEK extension", what, "truncated DER value")
    tag, first = value[0], value[1]
    if first < 0x80:
        length, start = first, 2
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or len(value) < 2 + count:
            raise ParseError("VEK extension", what, "bad DER length")
        length, start = int.from_bytes(value[2 : 2 + count], "big"), 2 + count
    if start + length != len(value):
        raise ParseError("VEK extension", what, "DER length does not match the value")
    return tag, value[start:]


def der_integer(value: int) -> bytes:
    content = value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big", signed=True)
    return _der_wrap(0x02, content)


def der_ia5(text: str) -> bytes:
    return _der_wrap(0x16, text.encode("ascii"))


def _der_wrap(tag: int, content: bytes) -> bytes:
    size = len(content)
    if size < 0x80:
        return bytes((tag, size)) + content
    size_bytes = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(size_bytes))) + size_bytes + content


def _integer(value: bytes, what: str) -> int:
    tag, content = _der_tlv(value, what)
    if tag != 0x02 or not content:
        raise ParseError("VEK extension", what, "not a DER INTEGER")
    return int.from_bytes(content, "big", signed=True)


def _ia5(value: bytes, what: str) -> str:
    tag, content = _der_tlv(value, what)
    if tag != 0x16:
        raise ParseError("VEK extension", what, "not a DER IA5String")
    return content.decode("ascii", errors="replace")


def decode_hwid(value: bytes) -> bytes:
    """The hwID: older KDS certificates hold the raw bytes, newer ones a DER OCTET STRING."""
    if len(value) >= 2 and value[0] == 0x04:
        try:
            _, inner = _der_tlv(value, "hwID")
        except ParseError:
            return value
        if len(inner) in HWID_SIZES:
            return inner
    return value


# --- the VEK ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class VekInfo:
    """What a VCEK or VLEK certifies: key kind, product, TCB SPLs, hwID (VCEK), CSP id (VLEK)."""

    kind: str  # "VCEK" or "VLEK"
    product_name: str | None
    tcb: Mapping[str, int]
    hwid: bytes | None
    csp_id: str | None
    struct_version: int | None
    issuer_cn: str | None

    @property
    def generation(self) -> str | None:
        """Milan / Genoa / Turin from productName ("Milan-B0") or the issuer ("SEV-VLEK-Genoa")."""
        for text in (self.product_name, self.issuer_cn):
            if text:
                for product in ("Milan", "Genoa", "Turin"):
                    if product in text:
                        return product
        return None


def common_name(name: x509.Name) -> str | None:
    attrs = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else None


def vek_info(cert: x509.Certificate, where: str = "VEK") -> VekInfo:
    """Read AMD's extensions from a VCEK/VLEK; raises ParseError for a malformed extension."""
    key = cert.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP384R1):
        raise ParseError("VEK certificate", where, "public key is not an ECDSA P-384 key")
    values: dict[str, bytes] = {}
    for ext in cert.extensions:
        if ext.oid.dotted_string.startswith(AMD_ARC + "."):
            raw = ext.value.value if isinstance(ext.value, x509.UnrecognizedExtension) else b""
            values[ext.oid.dotted_string] = raw
    tcb = {
        name: _integer(values[oid.dotted_string], f"{where} {name} SPL ({oid.dotted_string})")
        for name, oid in TCB_OIDS.items()
        if oid.dotted_string in values
    }
    product = values.get(OID_PRODUCT_NAME.dotted_string)
    struct_version = values.get(OID_STRUCT_VERSION.dotted_string)
    hwid = values.get(OID_HWID.dotted_string)
    csp = values.get(OID_CSP_ID.dotted_string)
    subject_cn = common_name(cert.subject) or ""
    kind = "VLEK" if "VLEK" in subject_cn or (csp is not None and hwid is None) else "VCEK"
    return VekInfo(
        kind=kind,
        product_name=_ia5(product, f"{where} productName") if product is not None else None,
        tcb=MappingProxyType(tcb),
        hwid=decode_hwid(hwid) if hwid is not None else None,
        csp_id=_ia5(csp, f"{where} cspID") if csp is not None else None,
        struct_version=(
            _integer(struct_version, f"{where} structVersion")
            if struct_version is not None
            else None
        ),
        issuer_cn=common_name(cert.issuer),
    )


# --- the GHCB certificate table --------------------------------------------------------------


@dataclass(frozen=True)
class CertTable:
    """Certificates from an SEV certificate table, by GUID (unknown GUIDs are kept too)."""

    entries: Mapping[uuid.UUID, bytes]

    @property
    def vcek(self) -> bytes | None:
        return self.entries.get(GUID_VCEK)

    @property
    def vlek(self) -> bytes | None:
        return self.entries.get(GUID_VLEK)

    @property
    def ask(self) -> bytes | None:
        return self.entries.get(GUID_ASK)

    @property
    def ark(self) -> bytes | None:
        return self.entries.get(GUID_ARK)


def parse_cert_table(data: bytes, what: str = "certificate table") -> CertTable:
    """Parse `{GUID, offset u32, length u32}*` up to an all-zero entry; offsets from the start."""
    entries: dict[uuid.UUID, bytes] = {}
    for index in range(MAX_TABLE_ENTRIES + 1):
        at = index * _ENTRY.size
        if at + _ENTRY.size > len(data):
            raise ParseError(
                what, f"entry {index} at offset {at:#x}", "truncated: no all-zero terminator entry"
            )
        guid, offset, length = _ENTRY.unpack_from(data, at)
        if guid == bytes(16) and offset == 0 and length == 0:
            return CertTable(MappingProxyType(entries))
        if index == MAX_TABLE_ENTRIES:
            break
        if offset + length > len(data) or length == 0:
            raise ParseError(
                what,
                f"entry {index} at offset {at:#x}",
                f"certificate at {offset:#x}+{length:#x} lies outside the {len(data)}-byte table",
            )
        key = uuid.UUID(bytes=guid)
        if key in entries:
            raise ParseError(what, f"entry {index} at offset {at:#x}", f"duplicate GUID {key}")
        entries[key] = data[offset : offset + length]
    raise ParseError(what, "entries", f"more than {MAX_TABLE_ENTRIES} entries")


def build_cert_table(certs: Mapping[uuid.UUID, bytes]) -> bytes:
    """Encode certificates as a certificate table (entries, terminator, then the DER blobs)."""
    header_size = (len(certs) + 1) * _ENTRY.size
    header, body = bytearray(), bytearray()
    for guid, der in certs.items():
        header += _ENTRY.pack(guid.bytes, header_size + len(body), len(der))
        body += der
    header += bytes(_ENTRY.size)
    return bytes(header + body)
