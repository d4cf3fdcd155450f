"""VCEK / VLEK certificates and the SEV certificate table that carries them.

AMD's key distribution service puts the platform's TCB and identity into X.509 extensions
under 1.3.6.1.4.1.3704.1 (VCEK spec, 57230). This module reads them through asn1crypto with
declared types (strict DER, see `der`) into a frozen record and parses the GHCB certificate
table (extended guest report, configfs-tsm `auxblob`).
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from asn1crypto import core  # type: ignore[import-untyped]
from asn1crypto import x509 as ax509
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from elsewhere.errors import ParseError
from elsewhere.evidence.anchors import load_der
from elsewhere.evidence.snp import der

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


# --- the VEK ---------------------------------------------------------------------------------

# Each AMD extension's declared ASN.1 type; hwID is handled apart (two encodings).
_SPECS: Mapping[str, tuple[str, type[core.Asn1Value]]] = MappingProxyType(
    {
        OID_STRUCT_VERSION.dotted_string: ("structVersion", core.Integer),
        OID_PRODUCT_NAME.dotted_string: ("productName", core.IA5String),
        OID_CSP_ID.dotted_string: ("cspID", core.IA5String),
        **{oid.dotted_string: (f"{name} SPL", core.Integer) for name, oid in TCB_OIDS.items()},
        **{f"{AMD_ARC}.3.{n}": (f"spl{n} (reserved)", core.Integer) for n in range(4, 8)},
    }
)


def decode_hwid(value: bytes) -> bytes:
    """The hwID: older KDS certificates hold the raw bytes, newer ones a DER OCTET STRING."""
    if len(value) >= 2 and value[0] == 0x04:
        try:
            inner = bytes(der.decode(core.OctetString, value, "hwID").native)
        except ParseError:
            return value
        if len(inner) in HWID_SIZES:
            return inner
    return value


@dataclass(frozen=True)
class VekInfo:
    """What a VCEK or VLEK certifies: key kind, product, TCB SPLs, hwID (VCEK), CSP id (VLEK).

    `envelope` lists the certificate's unsigned parts that disagree with its signed part."""

    kind: str  # "VCEK" or "VLEK"
    product_name: str | None
    tcb: Mapping[str, int]
    hwid: bytes | None
    csp_id: str | None
    struct_version: int | None
    issuer_cn: str | None
    envelope: tuple[str, ...] = ()

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


def parse_certificate(data: bytes, where: str) -> ax509.Certificate:
    """The certificate's structure through asn1crypto (exactly one value, no trailing bytes)."""
    try:
        cert = ax509.Certificate.load(data, strict=True)
        # asn1crypto parses lazily: touch every part used later, so hostile bytes fail here.
        tbs = cert["tbs_certificate"]
        _ = (cert["signature_algorithm"].dump(), tbs["signature"].dump())
        _ = cert["signature_value"].contents
        for ext in tbs["extensions"] if isinstance(tbs["extensions"], ax509.Extensions) else ():
            _ = (ext["extn_id"].contents, ext["extn_value"].contents)
    except der.DECODE_ERRORS as error:
        reason = der.first_line(error)
        raise ParseError("certificate", where, f"not a DER X.509 certificate ({reason})") from None
    return cert


def envelope_problems(cert: ax509.Certificate) -> tuple[str, ...]:
    """Parts of a certificate outside the signed TBSCertificate that must repeat or pad it:
    the outer signatureAlgorithm must equal the signed one byte for byte, and the signature
    BIT STRING has no unused bits. Anything else would be unsigned bytes that still count."""
    problems = []
    outer, inner = cert["signature_algorithm"].dump(), cert["tbs_certificate"]["signature"].dump()
    if outer != inner:
        at = next((i for i, (a, b) in enumerate(zip(outer, inner, strict=False)) if a != b), 0)
        problems.append(
            f"outer signatureAlgorithm differs from the signed one at byte {at} "
            f"({outer[at : at + 8].hex()} vs {inner[at : at + 8].hex()})"
        )
    bits = cert["signature_value"].contents or b""
    if bits[:1] != b"\x00":
        problems.append(f"signature BIT STRING has {bits[:1].hex() or 'no'} unused-bits byte")
    return tuple(problems)


def _amd_extensions(cert: ax509.Certificate, where: str) -> dict[str, bytes]:
    """AMD's extensions by dotted OID; refuses a malformed OID or one given twice."""
    values: dict[str, bytes] = {}
    first: dict[str, int] = {}
    extensions = cert["tbs_certificate"]["extensions"]
    for index, ext in enumerate(extensions if isinstance(extensions, ax509.Extensions) else ()):
        try:
            oid = der.check_oid(ext["extn_id"], f"{where} extension #{index}")
            raw = bytes(ext["extn_value"].contents or b"")
        except der.DECODE_ERRORS as error:
            raise ParseError(
                der.WHAT, f"{where} extension #{index}", f"malformed ({der.first_line(error)})"
            ) from None
        if not oid.startswith(AMD_ARC + "."):
            continue
        if oid in values:
            raise ParseError(
                der.WHAT,
                f"{where} extension #{index} ({oid})",
                f"duplicate: extension #{first[oid]} has the same OID",
            )
        values[oid], first[oid] = raw, index
    return values


def vek_info_der(data: bytes, where: str = "VEK") -> tuple[VekInfo, x509.Certificate]:
    """Read AMD's extensions from a VCEK/VLEK (DER) through declared ASN.1 types, and the
    certificate itself; raises ParseError naming the extension and byte that is malformed."""
    parsed = parse_certificate(data, where)
    values = _amd_extensions(parsed, where)
    decoded: dict[str, Any] = {}  # asn1crypto's .native: int for INTEGER, str for IA5String
    for oid, raw in values.items():
        if oid in _SPECS:
            label, spec = _SPECS[oid]
            decoded[oid] = der.decode(spec, raw, f"{where} {label} ({oid})").native
    cert = load_der(data, f"{where} certificate")
    key = cert.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP384R1):
        raise ParseError("VEK certificate", where, "public key is not an ECDSA P-384 key")
    tcb = {
        name: int(decoded[oid.dotted_string])
        for name, oid in TCB_OIDS.items()
        if oid.dotted_string in decoded
    }
    product = decoded.get(OID_PRODUCT_NAME.dotted_string)
    struct_version = decoded.get(OID_STRUCT_VERSION.dotted_string)
    hwid = values.get(OID_HWID.dotted_string)
    csp = decoded.get(OID_CSP_ID.dotted_string)
    subject_cn = common_name(cert.subject) or ""
    kind = "VLEK" if "VLEK" in subject_cn or (csp is not None and hwid is None) else "VCEK"
    info = VekInfo(
        kind=kind,
        product_name=str(product) if product is not None else None,
        tcb=MappingProxyType(tcb),
        hwid=decode_hwid(hwid) if hwid is not None else None,
        csp_id=str(csp) if csp is not None else None,
        struct_version=int(struct_version) if struct_version is not None else None,
        issuer_cn=common_name(cert.issuer),
        envelope=envelope_problems(parsed),
    )
    return info, cert


def vek_info(cert: x509.Certificate, where: str = "VEK") -> VekInfo:
    """`vek_info_der` for an already loaded certificate."""
    return vek_info_der(cert.public_bytes(Encoding.DER), where)[0]


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
    for guid, blob in certs.items():
        header += _ENTRY.pack(guid.bytes, header_size + len(body), len(blob))
        body += blob
    header += bytes(_ENTRY.size)
    return bytes(header + body)
