"""Emulated SEV-SNP: accepted only under an explicitly trusted root, always marked emulated;
serialise/parse round trip and single-byte tampering as properties."""

from __future__ import annotations

import dataclasses
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from elsewhere.claims import EMULATED_WARNING
from elsewhere.errors import ConfigError, ParseError
from elsewhere.evidence import EvidenceOptions, TrustAnchor, verify_evidence
from elsewhere.evidence.snp import abi
from elsewhere.evidence.snp.certs import (
    GUID_ARK,
    GUID_ASK,
    GUID_VCEK,
    OID_HWID,
    build_cert_table,
    parse_cert_table,
)
from elsewhere.evidence.snp.chain import AMD_PSS
from elsewhere.evidence.snp.emulate import EmulatedSnpPlatform


@pytest.fixture(scope="module")
def platforms(tmp_path_factory: pytest.TempPathFactory) -> dict[str, EmulatedSnpPlatform]:
    return {
        gen: EmulatedSnpPlatform.create(tmp_path_factory.mktemp(gen), generation=gen)
        for gen in ("Milan", "Genoa", "Turin")
    }


def _trusting(platform: EmulatedSnpPlatform, table: bytes) -> EvidenceOptions:
    return EvidenceOptions(cert_table=table, trusted_emulated_roots=(platform.trust_anchor,))


@pytest.mark.parametrize("generation", ["Milan", "Genoa", "Turin"])
def test_emulated_report_verifies_only_under_trusted_root(
    generation: str, platforms: dict[str, EmulatedSnpPlatform]
) -> None:
    platform = platforms[generation]
    report, table = platform.attest(b"\x01\x02\x03", debug=True)
    result = verify_evidence(report, _trusting(platform, table))
    assert result.verified, [str(f) for f in result.failures]
    assert result.claims.emulated and result.protection == EMULATED_WARNING
    assert any("EMULATED" in notice for notice in result.notices)
    assert result.claims.generation == generation
    assert result.claims.debug is True and result.claims.flags["policy_debug"] is True
    assert result.claims.report_data == "010203" + "00" * 61
    assert dict(result.claims.tcb) == dict(platform.tcb)
    assert result.claims.report_version == (5 if generation == "Turin" else 3)
    # Never implicitly: without the anchor the same evidence is refused at the root.
    untrusted = verify_evidence(report, EvidenceOptions(cert_table=table))
    assert not untrusted.verified and [f.check for f in untrusted.failures] == ["ARK"]
    assert not untrusted.claims.emulated
    # Another emulated root does not vouch for this one.
    other = platforms["Genoa" if generation != "Genoa" else "Milan"]
    wrong = verify_evidence(report, _trusting(other, table))
    assert [f.check for f in wrong.failures] == ["ARK"]


def test_turin_layout_and_chip_id(platforms: dict[str, EmulatedSnpPlatform]) -> None:
    turin = platforms["Turin"]
    report, table = turin.attest(b"t", tcb={"fmc": 7, "snp": 9})
    parsed = abi.parse_report(report)
    assert parsed.reported_tcb[0] == 7 and parsed.reported_tcb[3] == 9  # fmc byte 0, snp byte 3
    assert parsed.chip_id[8:] == bytes(56)
    result = verify_evidence(report, _trusting(turin, table))
    assert result.verified and result.claims.tcb["fmc"] == 7


def test_tcb_must_match_the_vcek(platforms: dict[str, EmulatedSnpPlatform]) -> None:
    genoa = platforms["Genoa"]
    signed = genoa.sign(genoa.report(b"x", tcb={"snp": 99}))
    result = verify_evidence(signed, _trusting(genoa, genoa.cert_table()))  # default-TCB VCEK
    assert [f.check for f in result.failures] == ["REPORTED_TCB.snp"]
    assert result.failures[0].found == "99"


def test_cpuid_product_must_match_the_chain(platforms: dict[str, EmulatedSnpPlatform]) -> None:
    milan = platforms["Milan"]
    report = dataclasses.replace(milan.report(b"x"), cpuid_mod_id=0x11)  # CPUID says Genoa
    result = verify_evidence(milan.sign(report), _trusting(milan, milan.cert_table()))
    assert [f.check for f in result.failures] == ["product"]


def test_signing_key_must_match_the_certificate(platforms: dict[str, EmulatedSnpPlatform]) -> None:
    genoa = platforms["Genoa"]
    report = dataclasses.replace(genoa.report(b"x"), signer_info=1 << 2)  # claims VLEK
    result = verify_evidence(genoa.sign(report), _trusting(genoa, genoa.cert_table()))
    assert [f.check for f in result.failures] == ["SIGNER_INFO.SIGNING_KEY"]


def test_unknown_reserved_bits_are_notices(platforms: dict[str, EmulatedSnpPlatform]) -> None:
    genoa = platforms["Genoa"]
    report = dataclasses.replace(genoa.report(b"x", platform_info=0x25 | 1 << 40))
    report = dataclasses.replace(report, reserved_208=b"\x01" + bytes(151))
    result = verify_evidence(genoa.sign(report), _trusting(genoa, genoa.cert_table()))
    assert result.verified
    assert any("bit 40" in n for n in result.notices)
    assert any("0x208" in n for n in result.notices)
    assert result.claims.flags["platform_bit_40"] is True


def test_load_round_trip_and_key_permissions(
    platforms: dict[str, EmulatedSnpPlatform],
) -> None:
    genoa = platforms["Genoa"]
    loaded = EmulatedSnpPlatform.load(genoa.directory)
    assert loaded == genoa
    assert loaded.trust_anchor == genoa.trust_anchor
    for key in ("ask-key.pem", "vcek-key.pem"):
        assert stat.S_IMODE((genoa.directory / key).stat().st_mode) == 0o600
    report, table = loaded.attest(b"again")
    assert verify_evidence(report, _trusting(genoa, table)).verified
    anchor = TrustAnchor.emulated_root((genoa.directory / "ark.pem").read_bytes())
    assert anchor.fingerprint == genoa.trust_anchor.fingerprint


def test_load_refuses_missing_or_bad_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"platform\.json"):
        EmulatedSnpPlatform.load(tmp_path)
    with pytest.raises(ConfigError, match="generation"):
        EmulatedSnpPlatform.create(tmp_path, generation="Naples")
    with pytest.raises(ConfigError, match="frobnicator"):
        EmulatedSnpPlatform.create(tmp_path, tcb={"frobnicator": 1})


def test_cert_table_round_trip(platforms: dict[str, EmulatedSnpPlatform]) -> None:
    genoa = platforms["Genoa"]
    table = parse_cert_table(genoa.cert_table())
    assert table.vcek == genoa.vcek_der and table.ask == genoa.ask_der
    assert table.ark == genoa.ark_der
    assert set(table.entries) == {GUID_VCEK, GUID_ASK, GUID_ARK}


def _report_strategy() -> st.SearchStrategy[abi.AttestationReport]:
    parts = {}
    for f in dataclasses.fields(abi.AttestationReport):
        code = dict(abi.LAYOUT)[f.name]
        if code.endswith("s"):
            size = int(code[:-1])
            parts[f.name] = st.binary(min_size=size, max_size=size)
        else:
            bits = {"B": 8, "I": 32, "Q": 64}[code]
            parts[f.name] = st.integers(0, (1 << bits) - 1)
    parts["version"] = st.sampled_from(abi.SUPPORTED_VERSIONS)
    return st.builds(abi.AttestationReport, **parts)


@given(_report_strategy())
def test_serialise_parse_round_trip(report: abi.AttestationReport) -> None:
    data = abi.serialise_report(report)
    assert len(data) == abi.REPORT_SIZE
    assert abi.parse_report(data) == report
    assert abi.serialise_report(abi.parse_report(data)) == data


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(offset=st.integers(0, abi.SIGNED_SIZE - 1), flip=st.integers(1, 255))
def test_any_signed_byte_change_fails(
    platforms: dict[str, EmulatedSnpPlatform], offset: int, flip: int
) -> None:
    genoa = platforms["Genoa"]
    report, table = _signed_genoa(genoa)
    tampered = bytearray(report)
    tampered[offset] ^= flip
    try:
        result = verify_evidence(bytes(tampered), _trusting(genoa, table))
    except ParseError:  # VERSION changed to an unsupported one: refused as input
        assert offset < 4
        return
    assert not result.verified
    assert "report signature" in {f.check for f in result.failures}


_SIGNED: dict[int, tuple[bytes, bytes]] = {}


def _signed_genoa(genoa: EmulatedSnpPlatform) -> tuple[bytes, bytes]:
    key = id(genoa)
    if key not in _SIGNED:
        _SIGNED[key] = genoa.attest(b"property")
    return _SIGNED[key]


def test_signature_area_outside_signed_region_is_refused(
    platforms: dict[str, EmulatedSnpPlatform],
) -> None:
    # The reserved tail of the signature area is outside 0x000..0x29F: the signature stays
    # valid, but unsigned bytes where the ABI leaves no room for any are refused.
    genoa = platforms["Genoa"]
    report, table = _signed_genoa(genoa)
    assert verify_evidence(report, _trusting(genoa, table)).verified
    for offset in (0x330, 0x400, abi.REPORT_SIZE - 1):
        tampered = bytearray(report)
        tampered[offset] ^= 1
        result = verify_evidence(bytes(tampered), _trusting(genoa, table))
        assert [(f.check, f.found) for f in result.failures] == [
            (
                "unsigned bytes",
                f"non-zero byte at {offset:#05x} in the reserved area after the signature",
            )
        ]


def test_every_signed_byte_is_covered(platforms: dict[str, EmulatedSnpPlatform]) -> None:
    # Exhaustive companion to the property above: flip the low and the high bit of every byte.
    turin = platforms["Turin"]
    report, table = turin.attest(b"exhaustive")
    options = _trusting(turin, table)
    for offset in range(abi.SIGNED_SIZE):
        for flip in (0x01, 0x80):
            tampered = bytearray(report)
            tampered[offset] ^= flip
            try:
                result = verify_evidence(bytes(tampered), options)
            except ParseError:
                assert offset < 4  # VERSION no longer supported
                continue
            assert "report signature" in {f.check for f in result.failures}, offset


def _reissued_vcek_table(
    genoa: EmulatedSnpPlatform, hwid: bytes | None = None, pkcs1: bool = False
) -> bytes:
    """A certificate table whose VCEK copies the platform's, with a changed hwID or scheme."""
    original = x509.load_der_x509_certificate(genoa.vcek_der)
    builder = (
        x509.CertificateBuilder()
        .subject_name(original.subject)
        .issuer_name(original.issuer)
        .public_key(original.public_key())
        .serial_number(1)
        .not_valid_before(original.not_valid_before_utc)
        .not_valid_after(original.not_valid_after_utc)
    )
    for ext in original.extensions:
        value = ext.value
        if ext.oid == OID_HWID and hwid is not None:
            value = x509.UnrecognizedExtension(OID_HWID, hwid)
        builder = builder.add_extension(value, ext.critical)
    scheme = padding.PKCS1v15() if pkcs1 else AMD_PSS
    vcek = builder.sign(genoa._ask_key, hashes.SHA384(), rsa_padding=scheme)
    der = vcek.public_bytes(serialization.Encoding.DER)
    return build_cert_table({GUID_VCEK: der, GUID_ASK: genoa.ask_der, GUID_ARK: genoa.ark_der})


def test_vcek_without_a_full_hwid_binds_no_chip(
    platforms: dict[str, EmulatedSnpPlatform],
) -> None:
    # A VCEK whose hwID is empty would match any CHIP_ID as a prefix: refused.
    genoa = platforms["Genoa"]
    report, _ = genoa.attest(b"hwid")
    result = verify_evidence(report, _trusting(genoa, _reissued_vcek_table(genoa, hwid=b"")))
    assert [f.check for f in result.failures] == ["CHIP_ID"]


def test_chain_signatures_must_use_amds_scheme(
    platforms: dict[str, EmulatedSnpPlatform],
) -> None:
    # Same key, same content, signed with PKCS#1 v1.5 instead of RSA-PSS SHA-384 salt 48.
    genoa = platforms["Genoa"]
    report, _ = genoa.attest(b"scheme")
    assert verify_evidence(report, _trusting(genoa, _reissued_vcek_table(genoa))).verified
    result = verify_evidence(report, _trusting(genoa, _reissued_vcek_table(genoa, pkcs1=True)))
    assert [f.check for f in result.failures] == ["VCEK signature"]
