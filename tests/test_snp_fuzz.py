"""Parsers answer random, truncated and hostile bytes only with typed errors."""

from __future__ import annotations

import struct
import tempfile

from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from elsewhere.errors import InputError
from elsewhere.evidence import EvidenceOptions, detect, load_certificates, verify_evidence
from elsewhere.evidence.snp import abi
from elsewhere.evidence.snp.certs import decode_hwid, parse_cert_table
from elsewhere.evidence.snp.der import der_ia5, der_integer
from elsewhere.evidence.snp.emulate import EmulatedSnpPlatform
from elsewhere.evidence.snp.hcl import parse_hcl


def _valid_report(version: int = 3) -> bytes:
    return struct.pack("<I", version) + bytes(abi.REPORT_SIZE - 4)


@given(st.binary(max_size=2 * abi.REPORT_SIZE))
def test_parse_report_random(data: bytes) -> None:
    try:
        report = abi.parse_report(data)
    except InputError as error:
        assert "\n" not in error.message and "offset" in error.message
        return
    assert abi.serialise_report(report) == data


@given(st.integers(0, abi.REPORT_SIZE * 2), st.sampled_from([2, 3, 5]))
def test_parse_report_truncated_or_oversized(size: int, version: int) -> None:
    data = (_valid_report(version) * 2)[:size]
    if size == abi.REPORT_SIZE:
        assert abi.parse_report(data).version == version
        return
    try:
        abi.parse_report(data)
    except InputError as error:
        assert "truncated" in error.message or "oversized" in error.message
    else:
        raise AssertionError("accepted a report of the wrong size")


@given(st.integers(0, 0xFFFFFFFF).filter(lambda v: v not in abi.SUPPORTED_VERSIONS))
def test_parse_report_wrong_version(version: int) -> None:
    data = struct.pack("<I", version) + bytes(abi.REPORT_SIZE - 4)
    try:
        abi.parse_report(data)
    except InputError as error:
        assert "VERSION" in error.message and str(version) in error.message
    else:
        raise AssertionError("accepted an unsupported version")


@settings(max_examples=300)
@given(st.binary(max_size=4096))
def test_detect_and_verify_random(data: bytes) -> None:
    try:
        detected = detect(data)
    except InputError:
        return
    try:
        result = verify_evidence(data, EvidenceOptions())
    except InputError:
        return
    assert detected.format.is_snp and not result.verified


@given(st.binary(max_size=2048))
def test_hcl_random_tail(tail: bytes) -> None:
    try:
        hcl = parse_hcl(b"HCLA" + tail)
    except InputError:
        return
    assert len(hcl.hardware_report) == abi.REPORT_SIZE


@given(
    st.lists(
        st.tuples(st.binary(min_size=16, max_size=16), st.integers(0, 600), st.integers(0, 600)),
        max_size=5,
    ),
    st.binary(max_size=512),
    st.booleans(),
)
def test_cert_table_random(
    entries: list[tuple[bytes, int, int]], body: bytes, terminate: bool
) -> None:
    data = b"".join(struct.pack("<16sII", *entry) for entry in entries)
    if terminate:
        data += bytes(24)
    data += body
    try:
        table = parse_cert_table(data)
    except InputError:
        return
    assert all(len(der) > 0 for der in table.entries.values())


@given(st.binary(max_size=80))
def test_hwid_decoding_total(value: bytes) -> None:
    decoded = decode_hwid(value)
    assert decoded == value or value[0] == 0x04


@given(st.binary(max_size=600))
def test_certificate_loader_random(data: bytes) -> None:
    for blob in (data, b"-----BEGIN CERTIFICATE-----\n" + data + b"\n-----END CERTIFICATE-----\n"):
        try:
            load_certificates(blob, "fuzz")
        except InputError as error:
            assert "\n" not in error.message


_PLATFORM: list[EmulatedSnpPlatform] = []


def _platform() -> EmulatedSnpPlatform:
    if not _PLATFORM:
        _PLATFORM.append(EmulatedSnpPlatform.create(tempfile.mkdtemp(prefix="snp-fuzz-")))
    return _PLATFORM[0]


@settings(max_examples=150)
@given(
    st.sampled_from([2, 3, 5]),
    st.binary(min_size=abi.REPORT_SIZE - 4, max_size=abi.REPORT_SIZE - 4),
)
def test_random_report_body_with_real_chain(version: int, body: bytes) -> None:
    platform = _platform()
    options = EvidenceOptions(
        cert_table=platform.cert_table(), trusted_emulated_roots=(platform.trust_anchor,)
    )
    result = verify_evidence(struct.pack("<I", version) + body, options)
    assert not result.verified


@settings(max_examples=150)
@given(st.data())
def test_hostile_certificate_table(data: st.DataObject) -> None:
    platform = _platform()
    report, table = platform.attest(b"fuzz")
    mutated = bytearray(table)
    for _ in range(data.draw(st.integers(1, 4))):
        mutated[data.draw(st.integers(0, len(mutated) - 1))] ^= data.draw(st.integers(1, 255))
    options = EvidenceOptions(
        cert_table=bytes(mutated), trusted_emulated_roots=(platform.trust_anchor,)
    )
    try:
        result = verify_evidence(report, options)
    except InputError as error:
        assert "\n" not in error.message
        return
    # A flip may land in unused bytes (e.g. a DER field nobody checks is still signed: the
    # signature then fails) — whatever verifies must still be this platform's exact chain.
    if result.verified:
        parsed = parse_cert_table(bytes(mutated))
        assert parsed.ark == platform.ark_der and parsed.vcek == platform.vcek_der


def _vek_with(oid: str, value: bytes) -> bytes:
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509.oid import NameOID

    if not _EXT_KEY:
        _EXT_KEY.append(ec.generate_private_key(ec.SECP384R1()))
    key = _EXT_KEY[0]
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "SEV-VCEK")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(dt.datetime(2024, 1, 1))
        .not_valid_after(dt.datetime(2030, 1, 1))
        .add_extension(x509.UnrecognizedExtension(x509.ObjectIdentifier(oid), value), False)
        .sign(key, hashes.SHA384())
    )
    return cert.public_bytes(Encoding.DER)


_EXT_KEY: list[ec.EllipticCurvePrivateKey] = []


@settings(max_examples=200)
@given(
    st.sampled_from(["1.3.6.1.4.1.3704.1.3.1", "1.3.6.1.4.1.3704.1.2", "1.3.6.1.4.1.3704.1.1"]),
    st.one_of(
        st.binary(max_size=12),
        st.tuples(st.sampled_from([0x02, 0x16]), st.binary(max_size=8)).map(
            lambda t: bytes([t[0], len(t[1])]) + t[1]
        ),
    ),
)
def test_amd_extension_value_is_strict_der_or_refused(oid: str, value: bytes) -> None:
    from elsewhere.evidence.snp.certs import vek_info_der

    try:
        info, _ = vek_info_der(_vek_with(oid, value))
    except InputError as error:
        assert "\n" not in error.message and oid in error.message
        return
    # Accepted: the value is exactly one DER value of the declared type, so re-encoding what
    # was decoded gives the same bytes (no BER lengths, padding or trailing bytes slipped by).
    if oid.endswith(".3.1"):
        assert der_integer(info.tcb["bootloader"]) == value
    elif oid.endswith(".2"):
        assert info.product_name is not None and der_ia5(info.product_name) == value
    else:
        assert info.struct_version is not None and der_integer(info.struct_version) == value
