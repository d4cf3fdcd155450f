"""SEV-SNP bytes no check used to cover: VEK extensions in strict DER (through asn1crypto),
the certificate envelope, unsigned report and HCL bytes, one canonical form per report, and
times or certificates that used to escape as untyped exceptions."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from asn1crypto import core  # type: ignore[import-untyped]
from asn1crypto import x509 as ax509
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from elsewhere.errors import InputError, ParseError
from elsewhere.evidence import EvidenceOptions, canonical_evidence, verify_evidence
from elsewhere.evidence.snp import abi
from elsewhere.evidence.snp.certs import (
    OID_HWID,
    OID_PRODUCT_NAME,
    TCB_OIDS,
    envelope_problems,
    parse_certificate,
    vek_info_der,
)
from elsewhere.evidence.snp.hcl import parse_hcl
from elsewhere.timeutil import parse_time

GSG = "snp/gsg-milan-v2"
MILAN_CHAIN = "snp/_amd-roots/kds_cert_chain_milan_vcek.pem"
GSG_AT = dt.datetime(2022, 9, 24, 1, tzinfo=dt.UTC)
_KEY = ec.generate_private_key(ec.SECP384R1())


def _vek(extensions: Sequence[tuple[x509.ObjectIdentifier, bytes]]) -> bytes:
    """A self-signed P-384 'VCEK' carrying exactly these raw AMD extension values."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "SEV-VCEK")])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(_KEY.public_key())
        .serial_number(1)
        .not_valid_before(dt.datetime(2024, 1, 1))
        .not_valid_after(dt.datetime(2030, 1, 1))
    )
    for oid, value in extensions:
        builder = builder.add_extension(x509.UnrecognizedExtension(oid, value), False)
    from cryptography.hazmat.primitives.serialization import Encoding

    return builder.sign(_KEY, hashes.SHA384()).public_bytes(Encoding.DER)


BL = TCB_OIDS["bootloader"]


def test_well_formed_extensions_decode() -> None:
    info, _ = vek_info_der(
        _vek([(BL, bytes.fromhex("020102")), (OID_PRODUCT_NAME, b"\x16\x05Genoa")])
    )
    assert info.tcb == {"bootloader": 2} and info.product_name == "Genoa"
    # ucodeSPL >= 128 takes two content bytes (02 02 00 d9): that is minimal DER.
    info, _ = vek_info_der(_vek([(TCB_OIDS["microcode"], bytes.fromhex("020200d9"))]))
    assert info.tcb == {"microcode": 0xD9}


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("02810102", "length at byte 1 is not in minimal DER form (8101)"),  # long form for 1
        ("0285000000000102", "length at byte 1 is not in minimal DER form (850000000001)"),
        ("02020002", "not DER at byte 1"),  # non-minimal INTEGER (asn1crypto reads 2)
        ("0201020000", "2 trailing bytes after the Integer at byte 3"),
        ("020502", "not a DER Integer (Insufficient data"),
        ("160102", "not a DER Integer (Error parsing asn1crypto.core.Integer - tag should"),
        ("0280020000", "not a DER Integer (Indefinite-length"),
    ],
)
def test_malformed_spl_is_refused_with_its_place(value: str, reason: str) -> None:
    with pytest.raises(ParseError) as caught:
        vek_info_der(_vek([(BL, bytes.fromhex(value))]))
    message = caught.value.message
    assert message.startswith("VEK extension: VEK bootloader SPL (1.3.6.1.4.1.3704.1.3.1): "), (
        message
    )
    assert reason in message, message


def test_malformed_product_name_is_refused() -> None:
    for value, reason in (("1601ff", "not a DER IA5String"), ("16054d696c616e00", "trailing")):
        with pytest.raises(ParseError, match=reason):
            vek_info_der(_vek([(OID_PRODUCT_NAME, bytes.fromhex(value))]))


def _edit_extensions(der: bytes, edit: object) -> bytes:
    """The certificate re-encoded after `edit(list of Extension)` (signature left stale)."""
    cert = ax509.Certificate.load(der)
    extensions = list(cert["tbs_certificate"]["extensions"])
    edit(extensions)  # type: ignore[operator]
    cert["tbs_certificate"]["extensions"] = ax509.Extensions(extensions)
    return bytes(cert.dump(force=True))


def test_duplicate_amd_oid_is_refused(vectors: Path) -> None:
    der = (vectors / GSG / "vcek.der").read_bytes()
    duplicated = _edit_extensions(der, lambda exts: exts.append(exts[2]))
    with pytest.raises(ParseError) as caught:
        vek_info_der(duplicated)
    assert caught.value.message == (
        "VEK extension: VEK extension #11 (1.3.6.1.4.1.3704.1.3.1): "
        "duplicate: extension #2 has the same OID"
    )


def test_unterminated_and_padded_oid_arcs_are_refused(vectors: Path) -> None:
    der = (vectors / GSG / "vcek.der").read_bytes()
    bl = bytes.fromhex("060a2b060104019c78010301")  # 1.3.6.1.4.1.3704.1.3.1
    assert der.count(bl) == 1
    unterminated = der.replace(bl, bl[:-1] + b"\x81")  # last arc never ends
    with pytest.raises(ParseError) as caught:
        vek_info_der(unterminated)
    assert "VEK extension #2: OBJECT IDENTIFIER" in caught.value.message
    assert "final arc does not end (byte 11 has bit 8 set)" in caught.value.message
    # A leading 0x80 in an arc (asn1crypto reads it as the same OID): rebuilt through
    # asn1crypto without re-encoding the new OID (dump() keeps a loaded value's bytes).
    cert = ax509.Certificate.load(der)
    ext = cert["tbs_certificate"]["extensions"][2]
    ext["extn_id"] = ax509.ExtensionId.load(bytes.fromhex("060b2b060104019c7801038001"))
    with pytest.raises(ParseError, match=r"arc padded with a leading 0x80 at byte 11"):
        vek_info_der(bytes(cert.dump()))


def test_hwid_both_encodings_through_asn1crypto(vectors: Path) -> None:
    raw = bytes(range(64))
    for value in (raw, bytes(core.OctetString(raw).dump())):
        info, _ = vek_info_der(_vek([(OID_HWID, value)]))
        assert info.hwid == raw


def _real(vectors: Path) -> tuple[bytes, bytes, tuple[bytes, ...]]:
    report = (vectors / GSG / "attestation.bin").read_bytes()
    chain = ((vectors / MILAN_CHAIN).read_bytes(),)
    return report, (vectors / GSG / "vcek.der").read_bytes(), chain


def _verify(report: bytes, vek: bytes, chain: tuple[bytes, ...]) -> list[str]:
    result = verify_evidence(report, EvidenceOptions(at=GSG_AT, vek=vek, chain=chain))
    return [f"{f.check}: {f.found}" for f in result.failures]


def test_outer_signature_algorithm_must_equal_the_signed_one(vectors: Path) -> None:
    report, vek, chain = _real(vectors)
    assert _verify(report, vek, chain) == []
    # RSASSA-PSS salt length 48 -> 49 in the outer, unsigned AlgorithmIdentifier only.
    salt = bytes.fromhex("a203020130a303020101")
    assert vek.count(salt) == 2
    at = vek.rindex(salt)
    outer = vek[:at] + bytes.fromhex("a203020131a303020101") + vek[at + len(salt) :]
    assert _verify(report, outer, chain) == [
        "VCEK certificate envelope: outer signatureAlgorithm differs from the signed one at "
        "byte 66 (31a303020101 vs 30a303020101)"
    ]


def test_signature_bit_string_padding_is_an_envelope_problem(vectors: Path) -> None:
    der = (vectors / GSG / "vcek.der").read_bytes()
    assert envelope_problems(parse_certificate(der, "VCEK")) == ()
    header = bytes.fromhex("0382020100")  # BIT STRING, 513 bytes, 0 unused bits
    assert der.count(header) == 1
    padded = der.replace(header, header[:-1] + b"\x01")
    assert envelope_problems(parse_certificate(padded, "VCEK")) == (
        "signature BIT STRING has 01 unused-bits byte",
    )


def _high_s_pair(report: bytes) -> tuple[bytes, bytes]:
    r, s = abi.parse_report(report).signature_ints()
    other = abi.with_signature(report, r, abi.P384_ORDER - s)
    return (report, other) if s > abi.P384_ORDER // 2 else (other, report)


def test_one_report_one_canonical_form(vectors: Path) -> None:
    report, vek, chain = _real(vectors)
    high, low = _high_s_pair(report)
    # ECDSA accepts both signatures, so both verify ...
    assert _verify(high, vek, chain) == [] and _verify(low, vek, chain) == []
    # ... and the ledger digest, over the canonical form, is the same for both (low S).
    assert canonical_evidence(high) == canonical_evidence(low) == low
    assert canonical_evidence(high.hex().encode()) == low  # hex text: same report
    assert canonical_evidence(b"not evidence") == b"not evidence"  # total: refused input too


def test_hcl_canonical_form_and_unsigned_bytes(vectors: Path) -> None:
    hcl = (vectors / "snp/trustee-azure-milan-hcl-v2/hcl-report.bin").read_bytes()
    parsed = parse_hcl(hcl)
    high, low = _high_s_pair(parsed.hardware_report)
    with_high = hcl[:0x20] + high + hcl[0x4C0:]
    with_low = hcl[:0x20] + low + hcl[0x4C0:]
    canonical = canonical_evidence(with_high)
    assert canonical == canonical_evidence(with_low) == with_low[: parsed.size]
    assert len(canonical) == 2346 < len(hcl)  # zero padding dropped
    for offset, value, where in (
        (0x8, 0x2B, "offset 0x8 (report size): says 2347 bytes, the contents use 2346"),
        (0x14, 1, "offset 0x14: reserved header byte is not zero"),
        (0x4C0, 0x6B, "offset 0x4c0 (runtime data_size): says 1131 bytes"),
        (2400, 1, "offset 0x960: non-zero byte after the runtime data (ends at 0x92a)"),
        (len(hcl) - 1, 7, "offset 0xa27: non-zero byte after the runtime data"),
    ):
        tampered = bytearray(hcl)
        tampered[offset] = value
        with pytest.raises(ParseError) as caught:
            parse_hcl(bytes(tampered))
        assert caught.value.message.startswith(f"Azure HCL report: {where}"), caught.value.message


def test_hcl_unsigned_header_fields_are_named(vectors: Path) -> None:
    hcl = (vectors / "snp/trustee-azure-milan-hcl-v2/hcl-report.bin").read_bytes()
    chain = (vectors / "snp/trustee-azure-milan-hcl-v2/vcek_ask_ark.pem").read_bytes()
    result = verify_evidence(hcl, EvidenceOptions(at=parse_time("2024-01-01"), vek=chain))
    assert any("HCL header (version 1, request type 2)" in n for n in result.notices)


@pytest.mark.parametrize("text", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_times_beyond_the_calendar_are_one_line_input_errors(text: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_time(text)
    assert caught.value.message.startswith("time: --at: ")
    assert "outside years 1-9999 once converted to UTC" in caught.value.message
    at = dt.datetime.fromisoformat(text)
    with pytest.raises(InputError, match="verification time"):
        EvidenceOptions(at=at).verification_time()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    code = "import sys; from elsewhere.cli import main; sys.exit(main())"
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120
    )


def test_cli_at_overflow_exits_2_with_one_line(vectors: Path) -> None:
    report = str(vectors / GSG / "attestation.bin")
    done = _cli("evidence", "verify", report, "--at", "9999-12-31T23:59:59-01:00")
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "outside years 1-9999" in done.stderr


def test_cli_certificate_warning_is_one_line_exit_2(vectors: Path, tmp_path: Path) -> None:
    # A VCEK whose issuer country is three letters: cryptography warns (UserWarning) when it
    # reads the name; the verifier refuses the certificate in one line instead.
    cert = ax509.Certificate.load((vectors / GSG / "vcek.der").read_bytes())
    issuer = cert["tbs_certificate"]["issuer"].native
    issuer["country_name"] = "USA"
    cert["tbs_certificate"]["issuer"] = ax509.Name.build(issuer)
    bad = tmp_path / "vcek.der"
    bad.write_bytes(cert.dump(force=True))
    report = str(vectors / GSG / "attestation.bin")
    done = _cli("evidence", "verify", report, "--vcek", str(bad), "--at", "2022-09-24T01:00:00Z")
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert "not a usable X.509 certificate (UserWarning:" in done.stderr
    assert json.dumps(done.stdout) == '""'


def test_the_ledger_digest_of_a_report_and_its_twin_is_one(vectors: Path) -> None:
    from elsewhere.control.broker.context import Context
    from elsewhere.control.trust.audit import attestation_entries

    report, _, _ = _real(vectors)
    high, low = _high_s_pair(report)
    context = Context(
        placement_id="pl_1",
        deployment_id="dep_1",
        tenant_id="ten_1",
        host_id="host_1",
        host_name="genoa",
        state="assigned",
        workload_digest="00" * 48,
        policy_version=1,
        policy_digest="sha384:" + "00" * 48,
        policy_document="",
        secret_names=("key",),
        advisory_feeds=0,
    )

    def digests(evidence: bytes) -> set[str]:
        entries = attestation_entries(
            context=context,
            evidence=evidence,
            claims_json="{}",
            accepted=True,
            reasons=[],
            tee="sev-snp",
            emulated=False,
            keep_key_digest="sha256:" + "00" * 32,
        )
        return {getattr(entry, "evidence_digest") for entry in entries}  # noqa: B009

    assert digests(high) == digests(low) == digests(low.hex().encode())
    assert len(digests(high)) == 1
