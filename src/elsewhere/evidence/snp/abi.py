"""SEV-SNP ATTESTATION_REPORT: bytes <-> a frozen, typed record (SEV-SNP firmware ABI, 56860).

Every byte of the 0x4A0-byte report lands in a field (reserved areas included), so
`serialise_report(parse_report(b)) == b` for every accepted `b`. Parsing checks only the shape
(size, version, signature algorithm field width); meaning is checked in `verify`.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass, fields
from enum import IntEnum

from elsewhere.errors import ParseError

REPORT_SIZE = 0x4A0
SIGNED_SIZE = 0x2A0  # the signature covers bytes 0x000..0x29F
SIGNATURE_OFFSET = 0x2A0
SIG_COMPONENT_SIZE = 72  # R and S: little-endian, zero-extended to 72 bytes
SUPPORTED_VERSIONS = (2, 3, 5)
SIG_ALGO_ECDSA_P384_SHA384 = 1
P384_ORDER = int(
    "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973",
    16,
)

# One struct for the whole report: (name, struct code) in layout order.
LAYOUT: tuple[tuple[str, str], ...] = (
    ("version", "I"),  # 0x000
    ("guest_svn", "I"),  # 0x004
    ("policy", "Q"),  # 0x008
    ("family_id", "16s"),  # 0x010
    ("image_id", "16s"),  # 0x020
    ("vmpl", "I"),  # 0x030
    ("signature_algo", "I"),  # 0x034
    ("current_tcb", "8s"),  # 0x038
    ("platform_info", "Q"),  # 0x040
    ("signer_info", "I"),  # 0x048
    ("reserved_04c", "4s"),  # 0x04C
    ("report_data", "64s"),  # 0x050
    ("measurement", "48s"),  # 0x090
    ("host_data", "32s"),  # 0x0C0
    ("id_key_digest", "48s"),  # 0x0E0
    ("author_key_digest", "48s"),  # 0x110
    ("report_id", "32s"),  # 0x140
    ("report_id_ma", "32s"),  # 0x160
    ("reported_tcb", "8s"),  # 0x180
    ("cpuid_fam_id", "B"),  # 0x188 (v3+; reserved in v2)
    ("cpuid_mod_id", "B"),  # 0x189
    ("cpuid_step", "B"),  # 0x18A
    ("reserved_18b", "21s"),  # 0x18B
    ("chip_id", "64s"),  # 0x1A0
    ("committed_tcb", "8s"),  # 0x1E0
    ("current_build", "B"),  # 0x1E8
    ("current_minor", "B"),  # 0x1E9
    ("current_major", "B"),  # 0x1EA
    ("reserved_1eb", "B"),  # 0x1EB
    ("committed_build", "B"),  # 0x1EC
    ("committed_minor", "B"),  # 0x1ED
    ("committed_major", "B"),  # 0x1EE
    ("reserved_1ef", "B"),  # 0x1EF
    ("launch_tcb", "8s"),  # 0x1F0
    ("launch_mit_vector", "Q"),  # 0x1F8 (v5; reserved before)
    ("current_mit_vector", "Q"),  # 0x200 (v5; reserved before)
    ("reserved_208", "152s"),  # 0x208
    ("signature_r", "72s"),  # 0x2A0
    ("signature_s", "72s"),  # 0x2E8
    ("signature_reserved", "368s"),  # 0x330
)
_STRUCT = struct.Struct("<" + "".join(code for _, code in LAYOUT))
assert _STRUCT.size == REPORT_SIZE


def _offsets() -> dict[str, int]:
    table, offset = {}, 0
    for name, code in LAYOUT:
        table[name] = offset
        offset += struct.calcsize("<" + code)
    return table


# Field offsets, for messages that name where a problem is; byte-string field sizes for packing.
OFFSETS: Mapping[str, int] = _offsets()
BYTES_SIZES: Mapping[str, int] = {
    name: int(code[:-1]) for name, code in LAYOUT if code.endswith("s")
}


class SigningKey(IntEnum):
    """SIGNER_INFO bits 4:2: which key signed the report."""

    VCEK = 0
    VLEK = 1
    NONE = 7


@dataclass(frozen=True, slots=True)
class AttestationReport:
    """One SEV-SNP attestation report; byte strings are raw, integers decoded little-endian."""

    version: int
    guest_svn: int
    policy: int
    family_id: bytes
    image_id: bytes
    vmpl: int
    signature_algo: int
    current_tcb: bytes
    platform_info: int
    signer_info: int
    reserved_04c: bytes
    report_data: bytes
    measurement: bytes
    host_data: bytes
    id_key_digest: bytes
    author_key_digest: bytes
    report_id: bytes
    report_id_ma: bytes
    reported_tcb: bytes
    cpuid_fam_id: int
    cpuid_mod_id: int
    cpuid_step: int
    reserved_18b: bytes
    chip_id: bytes
    committed_tcb: bytes
    current_build: int
    current_minor: int
    current_major: int
    reserved_1eb: int
    committed_build: int
    committed_minor: int
    committed_major: int
    reserved_1ef: int
    launch_tcb: bytes
    launch_mit_vector: int
    current_mit_vector: int
    reserved_208: bytes
    signature_r: bytes
    signature_s: bytes
    signature_reserved: bytes

    @property
    def signing_key(self) -> int:
        return (self.signer_info >> 2) & 0b111

    @property
    def author_key_en(self) -> bool:
        return bool(self.signer_info & 0b1)

    @property
    def mask_chip_key(self) -> bool:
        return bool(self.signer_info & 0b10)

    @property
    def has_cpuid(self) -> bool:
        return self.version >= 3

    def signature_ints(self) -> tuple[int, int]:
        """(R, S) as integers: both fields are little-endian."""
        return int.from_bytes(self.signature_r, "little"), int.from_bytes(
            self.signature_s, "little"
        )


_FIELD_NAMES = tuple(f.name for f in fields(AttestationReport))
assert tuple(name for name, _ in LAYOUT) == _FIELD_NAMES


def parse_report(
    data: bytes | bytearray | memoryview, what: str = "SEV-SNP report"
) -> AttestationReport:
    """Parse a raw report; raises ParseError naming the offset for truncated/oversized/bad input."""
    size = len(data)
    if size < 4:
        raise ParseError(
            what, "offset 0x000 (VERSION)", f"truncated: {size} bytes, need {REPORT_SIZE}"
        )
    version = int.from_bytes(bytes(data[:4]), "little")
    if version not in SUPPORTED_VERSIONS:
        raise ParseError(
            what,
            "offset 0x000 (VERSION)",
            f"unsupported report version {version} (supported: "
            + ", ".join(str(v) for v in SUPPORTED_VERSIONS)
            + ")",
        )
    if size < REPORT_SIZE:
        raise ParseError(
            what, f"offset {size:#05x}", f"truncated: {size} bytes, a report is {REPORT_SIZE}"
        )
    if size > REPORT_SIZE:
        raise ParseError(
            what,
            f"offset {REPORT_SIZE:#05x}",
            f"oversized: {size} bytes, a report is exactly {REPORT_SIZE} (trailing data)",
        )
    return AttestationReport(*_STRUCT.unpack(data))


def serialise_report(report: AttestationReport) -> bytes:
    """The exact 0x4A0-byte encoding; raises ParseError if a field does not fit its slot."""
    values = [getattr(report, name) for name in _FIELD_NAMES]
    for name, size in BYTES_SIZES.items():
        if len(getattr(report, name)) != size:  # struct would silently pad or cut
            raise ParseError(
                "SEV-SNP report", f"{name} at {OFFSETS[name]:#05x}", f"must be {size} bytes"
            )
    try:
        return _STRUCT.pack(*values)
    except struct.error as error:
        raise ParseError("SEV-SNP report", "serialise", str(error)) from None


def with_signature(report_bytes: bytes, r: int, s: int) -> bytes:
    """Report bytes with (R, S) written little-endian into the signature area."""
    out = bytearray(report_bytes)
    out[SIGNATURE_OFFSET : SIGNATURE_OFFSET + SIG_COMPONENT_SIZE] = r.to_bytes(
        SIG_COMPONENT_SIZE, "little"
    )
    out[SIGNATURE_OFFSET + SIG_COMPONENT_SIZE : SIGNATURE_OFFSET + 2 * SIG_COMPONENT_SIZE] = (
        s.to_bytes(SIG_COMPONENT_SIZE, "little")
    )
    return bytes(out)


# --- TCB_VERSION: 8 bytes whose layout depends on the product --------------------------------

# Byte index of each component, in the order the evidence gives them.
TCB_LAYOUT_MILAN_GENOA: tuple[tuple[str, int], ...] = (
    ("bootloader", 0),
    ("tee", 1),
    ("snp", 6),
    ("microcode", 7),
)
TCB_LAYOUT_TURIN: tuple[tuple[str, int], ...] = (
    ("fmc", 0),
    ("bootloader", 1),
    ("tee", 2),
    ("snp", 3),
    ("microcode", 7),
)


def tcb_layout(generation: str | None) -> tuple[tuple[str, int], ...]:
    """Turin and later moved the components and added FMC; earlier products share a layout."""
    return TCB_LAYOUT_TURIN if generation == "Turin" else TCB_LAYOUT_MILAN_GENOA


def decode_tcb(raw: bytes, generation: str | None) -> dict[str, int]:
    return {name: raw[index] for name, index in tcb_layout(generation)}


def encode_tcb(parts: Mapping[str, int], generation: str | None) -> bytes:
    """8 TCB bytes from component values; missing components are 0, unknown names an error."""
    layout = tcb_layout(generation)
    known = {name for name, _ in layout}
    unknown = sorted(set(parts) - known)
    if unknown:
        raise ParseError(
            "TCB", ", ".join(unknown), f"not a {generation or 'Milan/Genoa'} TCB component"
        )
    out = bytearray(8)
    for name, index in layout:
        value = parts.get(name, 0)
        if not 0 <= value <= 0xFF:
            raise ParseError("TCB", name, f"{value} does not fit in one byte (0-255)")
        out[index] = value
    return bytes(out)


def tcb_reserved_bytes(raw: bytes, generation: str | None) -> bytes:
    """The bytes of a TCB_VERSION no component of this layout uses (should be zero)."""
    used = {index for _, index in tcb_layout(generation)}
    return bytes(raw[i] for i in range(8) if i not in used)


# --- CPUID (report v3+) -> product ---------------------------------------------------------


def product_from_cpuid(family: int, model: int) -> str | None:
    """AMD product from the CPUID family/model bytes of a v3+ report; None if not known."""
    if family == 0x19:
        if model <= 0x0F:
            return "Milan"
        if 0x10 <= model <= 0x1F or 0xA0 <= model <= 0xAF:
            return "Genoa"
    if family == 0x1A and model <= 0x11:
        return "Turin"
    return None
