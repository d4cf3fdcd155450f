"""Intel DCAP quotes (SGX v3, TDX v4, v5) as bytes → frozen typed records.

Layouts: docs/evidence-intel.md. All integers little-endian; signatures and keys big-endian
r‖s / x‖y. Lengths come from the size fields, never from len(quote): real quotes carry zero
padding (and one go-tdx-guest sample a text trailer) after the signature data. Those bytes are
covered by no signature; they are counted so the verifier can say so, and otherwise ignored.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from elsewhere.errors import ParseError

HEADER_LEN = 48
SGX_REPORT_LEN = 384
TD10_REPORT_LEN = 584
TD15_REPORT_LEN = 648
MAX_QUOTE_LEN = 1 << 20  # 1 MiB: real quotes are 5-8 KiB; anything larger is refused unread

QUOTE_VERSIONS = (3, 4, 5)  # SGX v3; TDX v4, v5
TEE_SGX = 0x00000000
TEE_TDX = 0x00000081
ATT_KEY_ECDSA_P256 = 2
CERT_PCK_CHAIN = 5
CERT_QE_REPORT = 6
BODY_SGX, BODY_TD10, BODY_TD15 = 1, 2, 3
_BODY_LEN = {BODY_SGX: SGX_REPORT_LEN, BODY_TD10: TD10_REPORT_LEN, BODY_TD15: TD15_REPORT_LEN}
INTEL_QE_VENDOR_ID = bytes.fromhex("939a7233f79c4ca9940a0db3957f0607")


@dataclass(frozen=True, slots=True)
class Header:
    version: int
    att_key_type: int
    tee_type: int
    qe_svn: int
    pce_svn: int
    qe_vendor_id: bytes
    user_data: bytes


@dataclass(frozen=True, slots=True)
class EnclaveReport:
    """SGX report body (384 bytes): the v3 quote body and every QE report."""

    cpusvn: bytes
    miscselect: int
    isvextprodid: bytes
    attributes: bytes
    mrenclave: bytes
    mrsigner: bytes
    configid: bytes
    isvprodid: int
    isvsvn: int
    configsvn: int
    isvfamilyid: bytes
    report_data: bytes
    raw: bytes


@dataclass(frozen=True, slots=True)
class TdReport:
    """TD report body 1.0 (584 bytes) or 1.5 (648: adds TEE_TCB_SVN2 and MRSERVICETD)."""

    tee_tcb_svn: bytes
    mrseam: bytes
    mrsignerseam: bytes
    seam_attributes: bytes
    td_attributes: bytes
    xfam: bytes
    mrtd: bytes
    mrconfigid: bytes
    mrowner: bytes
    mrownerconfig: bytes
    rtmrs: tuple[bytes, bytes, bytes, bytes]
    report_data: bytes
    tee_tcb_svn2: bytes | None = None
    mrservicetd: bytes | None = None


@dataclass(frozen=True, slots=True)
class Quote:
    """A parsed quote. `signed` is exactly the bytes the attestation key signs."""

    header: Header
    body_type: int
    body: EnclaveReport | TdReport
    signed: bytes
    signature: bytes
    attestation_key: bytes
    qe_report: EnclaveReport
    qe_report_signature: bytes
    qe_auth_data: bytes
    pck_chain_pem: bytes
    trailing: int  # bytes after the signature data: covered by no signature
    trailing_zero: bool

    @property
    def is_tdx(self) -> bool:
        return self.header.tee_type == TEE_TDX


class _Reader:
    """Bounds-checked cursor; every error names the region and offset."""

    __slots__ = ("data", "end", "pos")

    def __init__(self, data: bytes, pos: int, end: int) -> None:
        self.data, self.pos, self.end = data, pos, end

    def take(self, size: int, region: str) -> bytes:
        if size < 0 or self.pos + size > self.end:
            raise ParseError(
                "quote",
                f"{region} at offset {self.pos}",
                f"needs {size} bytes but only {self.end - self.pos} remain (truncated quote?)",
            )
        chunk = self.data[self.pos : self.pos + size]
        self.pos += size
        return chunk

    def u16(self, region: str) -> int:
        return int.from_bytes(self.take(2, region), "little")

    def u32(self, region: str) -> int:
        return int.from_bytes(self.take(4, region), "little")


_SGX_REPORT = struct.Struct("<16sI12x16s16s32s32x32s32x64sHHH42x16s64s")
_TD10 = struct.Struct("<16s48s48s8s8s8s48s48s48s48s48s48s48s48s64s")


def parse_enclave_report(raw: bytes) -> EnclaveReport:
    if len(raw) != SGX_REPORT_LEN:
        raise ParseError("SGX report", "", f"is {len(raw)} bytes, expected {SGX_REPORT_LEN}")
    cpusvn, misc, extprod, attrs, mrenclave, mrsigner, configid, prod, svn, cfgsvn, fam, rd = (
        _SGX_REPORT.unpack(raw)
    )
    return EnclaveReport(
        cpusvn, misc, extprod, attrs, mrenclave, mrsigner, configid, prod, svn, cfgsvn, fam, rd, raw
    )


def parse_td_report(raw: bytes) -> TdReport:
    if len(raw) not in (TD10_REPORT_LEN, TD15_REPORT_LEN):
        raise ParseError("TD report", "", f"is {len(raw)} bytes, expected 584 or 648")
    f: tuple[bytes, ...] = _TD10.unpack_from(raw)
    td15 = len(raw) == TD15_REPORT_LEN
    return TdReport(
        tee_tcb_svn=f[0],
        mrseam=f[1],
        mrsignerseam=f[2],
        seam_attributes=f[3],
        td_attributes=f[4],
        xfam=f[5],
        mrtd=f[6],
        mrconfigid=f[7],
        mrowner=f[8],
        mrownerconfig=f[9],
        rtmrs=(f[10], f[11], f[12], f[13]),
        report_data=f[14],
        tee_tcb_svn2=raw[584:600] if td15 else None,
        mrservicetd=raw[600:648] if td15 else None,
    )


def parse_header(data: bytes) -> Header:
    if len(data) < HEADER_LEN:
        raise ParseError("quote", "header", f"is {len(data)} bytes, expected at least 48")
    version, key_type, tee_type, qe_svn, pce_svn = struct.unpack_from("<HHIHH", data)
    header = Header(version, key_type, tee_type, qe_svn, pce_svn, data[12:28], data[28:48])
    if version not in QUOTE_VERSIONS:
        raise ParseError("quote", "header.version", f"{version} is not a DCAP quote version 3/4/5")
    if key_type != ATT_KEY_ECDSA_P256:
        raise ParseError(
            "quote", "header.att_key_type", f"{key_type} is not supported (only 2, ECDSA P-256)"
        )
    if tee_type not in (TEE_SGX, TEE_TDX):
        raise ParseError("quote", "header.tee_type", f"{tee_type:#x} is neither SGX nor TDX")
    if header.qe_vendor_id != INTEL_QE_VENDOR_ID:
        raise ParseError(
            "quote", "header.qe_vendor_id", f"{header.qe_vendor_id.hex()} is not Intel's QE"
        )
    if version == 3 and tee_type != TEE_SGX:
        raise ParseError("quote", "header.tee_type", "a version 3 quote must be SGX")
    return header


def parse_quote(data: bytes) -> Quote:
    """Parse a DCAP quote; raise ParseError (one line, region and offset) if it is malformed."""
    if len(data) > MAX_QUOTE_LEN:
        raise ParseError("quote", "", f"is {len(data)} bytes; more than {MAX_QUOTE_LEN} refused")
    data = bytes(data)
    header = parse_header(data)
    r = _Reader(data, HEADER_LEN, len(data))
    if header.version == 5:
        body_type = r.u16("body descriptor.type")
        if body_type not in _BODY_LEN:
            raise ParseError("quote", "body descriptor.type", f"{body_type} is not 1, 2 or 3")
        size = r.u32("body descriptor.size")
        if size != _BODY_LEN[body_type]:
            raise ParseError(
                "quote", "body descriptor.size", f"{size} does not match body type {body_type}"
            )
    else:
        body_type = BODY_TD10 if header.tee_type == TEE_TDX else BODY_SGX
    if (body_type == BODY_SGX) != (header.tee_type == TEE_SGX):
        raise ParseError("quote", "body descriptor.type", "does not match header.tee_type")
    body_raw = r.take(_BODY_LEN[body_type], "body")
    body: EnclaveReport | TdReport = (
        parse_enclave_report(body_raw) if body_type == BODY_SGX else parse_td_report(body_raw)
    )
    signed = data[: r.pos]
    sig_len = r.u32("signature data length")
    sig = _Reader(data, r.pos, r.pos + sig_len)
    if sig.end > len(data):
        raise ParseError(
            "quote",
            f"signature data length at offset {r.pos - 4}",
            f"{sig_len} exceeds the {len(data) - r.pos} bytes that follow",
        )
    signature = sig.take(64, "quote signature")
    att_key = sig.take(64, "attestation key")
    if header.version == 3:
        cert = sig
    else:
        outer = sig.u16("certification data type")
        if outer != CERT_QE_REPORT:
            raise ParseError(
                "quote", "certification data type", f"{outer} is not 6 (QE report certification)"
            )
        outer_size = sig.u32("certification data size")
        cert = _Reader(data, sig.pos, sig.pos + outer_size)
        if cert.end > sig.end:
            raise ParseError("quote", "certification data size", "exceeds the signature data")
    qe_report_raw = cert.take(SGX_REPORT_LEN, "QE report")
    qe_sig = cert.take(64, "QE report signature")
    qe_auth = cert.take(cert.u16("QE auth data length"), "QE auth data")
    inner = cert.u16("certification data type")
    if inner != CERT_PCK_CHAIN:
        raise ParseError(
            "quote", "certification data type", f"{inner} is not 5 (PCK certificate chain)"
        )
    chain = cert.take(cert.u32("certification data size"), "certification data")
    if cert.pos != cert.end or (header.version > 3 and cert.end != sig.end):
        raise ParseError("quote", "certification data", "size fields disagree with its contents")
    if header.version == 3 and cert.pos != sig.end:
        raise ParseError("quote", "signature data", "length disagrees with its contents")
    trailer = data[sig.end :]
    return Quote(
        header=header,
        body_type=body_type,
        body=body,
        signed=signed,
        signature=signature,
        attestation_key=att_key,
        qe_report=parse_enclave_report(qe_report_raw),
        qe_report_signature=qe_sig,
        qe_auth_data=qe_auth,
        pck_chain_pem=chain,
        trailing=len(trailer),
        trailing_zero=trailer == bytes(len(trailer)),
    )
