"""The PCK certificate's SGX extension through asn1crypto (#14 item 1), and PCK certificates
with malformed names (#21 defect 5): each a located, one-line refusal."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from elsewhere.errors import ParseError
from elsewhere.evidence import EvidenceOptions, verify_evidence
from elsewhere.evidence.dcap.emulate import EmulatedTdxPlatform, sgx_extension
from elsewhere.evidence.dcap.pck import SGX_EXTENSIONS_OID, parse_pck_extensions

P = "1.2.840.113741.1.13.1"
COMPS = tuple(range(16))
GOOD = sgx_extension(bytes(6), COMPS, 11, bytes(16))


def _cert(extension: bytes) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Intel SGX PCK Platform CA")])
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.UnrecognizedExtension(SGX_EXTENSIONS_OID, extension), False)
        .sign(key, hashes.SHA256())
    )


def _seq(body: bytes) -> bytes:
    assert len(body) < 0x10000
    return b"\x30\x82" + len(body).to_bytes(2, "big") + body


def _body(der: bytes) -> bytes:
    """Contents of the outer SEQUENCE as the emulator writes it (0x30 0x82 LL LL)."""
    assert der[:2] == b"\x30\x82"
    return der[4:]


def _tlv(tag: int, value: bytes) -> bytes:
    assert len(value) < 0x80
    return bytes([tag, len(value)]) + value


_OID4 = _tlv(6, bytes.fromhex("2a864886f84d010d0104"))  # 1.2.840.113741.1.13.1.4 (FMSPC)
_DUP_FMSPC = _tlv(0x30, _OID4 + _tlv(4, b"\xff" * 6))
_UNTERMINATED = _tlv(0x30, _tlv(6, b"\x2a\x83") + b"\x05\x00")  # last arc byte has bit 8 set


def test_real_shape_decodes() -> None:
    ext = parse_pck_extensions(_cert(GOOD))
    assert ext.sgx_tcb_comps == COMPS and ext.pcesvn == 11 and ext.ca == "platform"


@pytest.mark.parametrize(
    ("extension", "reason"),
    [
        (_seq(_body(GOOD) + _DUP_FMSPC), f"{P}.4 appears twice"),
        (GOOD + b"\x00", "trailing data"),
        # Same entries, outer length in 3 bytes where 2 suffice: BER, not DER.
        (b"\x30\x83\x00" + GOOD[2:], "length is not DER"),
        (b"\x30\x80" + GOOD[4:] + b"\x00\x00", "length is not DER"),
        (_seq(_body(GOOD) + _UNTERMINATED), "unterminated arc"),
        (GOOD[:-3], "SGX extension"),
    ],
    ids=["duplicate-oid", "trailing", "long-length", "indefinite", "unterminated-arc", "short"],
)
def test_malformed_extension_is_refused_with_place(extension: bytes, reason: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_pck_extensions(_cert(extension))
    message = caught.value.message
    assert reason in message and "SGX extension" in message and "\n" not in message, message


def test_nested_duplicate_in_tcb_is_refused() -> None:
    """A second SGX TCB comp 1 inside the nested TCB SEQUENCE: the old walker kept the last."""
    comp1 = _tlv(0x30, _tlv(6, bytes.fromhex("2a864886f84d010d010201")) + _tlv(2, b"\x09"))
    body = _body(GOOD)
    tcb_at = body.index(bytes.fromhex("060a2a864886f84d010d0102")) + 12  # the TCB value
    assert body[tcb_at : tcb_at + 2] == b"\x30\x82"
    tcb = body[tcb_at + 4 : tcb_at + 4 + int.from_bytes(body[tcb_at + 2 : tcb_at + 4], "big")]
    entry_start = body.rfind(b"\x30", 0, tcb_at - 12)
    entry = body[entry_start : tcb_at + 4 + len(tcb)]
    new_entry = _seq(_tlv(6, bytes.fromhex("2a864886f84d010d0102")) + _seq(tcb + comp1))
    forged = _seq(body.replace(entry, new_entry))
    with pytest.raises(ParseError) as caught:
        parse_pck_extensions(_cert(forged))
    assert f"{P}.2.1 appears twice" in caught.value.message, caught.value.message


def _swap_pem(quote: bytes, der: bytes, mutated: bytes) -> bytes:
    def pem(raw: bytes) -> bytes:
        b64 = base64.b64encode(raw)
        lines = b"".join(b64[i : i + 64] + b"\n" for i in range(0, len(b64), 64))
        return b"-----BEGIN CERTIFICATE-----\n" + lines + b"-----END CERTIFICATE-----\n"

    assert pem(der) in quote
    return quote.replace(pem(der), pem(mutated))


@pytest.mark.parametrize("cert", ["pck", "pck-ca"])
def test_pck_chain_name_retagged_bit_string_is_a_failure(tmp_path: object, cert: str) -> None:
    """A name attribute re-tagged as BIT STRING made pyca raise TypeError (an internal error)."""
    import pathlib

    platform = EmulatedTdxPlatform.create(pathlib.Path(str(tmp_path)))
    der = platform.certs[cert]
    cn = x509.load_der_x509_certificate(der).subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    value = str(cn[0].value).encode()
    at = der.find(b"\x0c" + bytes([len(value)]) + value)
    mutated = der[:at] + b"\x03" + der[at + 1 :]
    quote = _swap_pem(platform.attest(b"x"), der, mutated)
    result = verify_evidence(
        quote,
        EvidenceOptions(
            collateral=platform.collateral(), trusted_emulated_roots=(platform.trust_anchor,)
        ),
    )
    assert not result.verified
    failure = next(f for f in result.failures if f.check.startswith("PCK certificate chain"))
    assert "malformed certificate" in failure.found and "\n" not in str(failure), failure


def test_duplicated_extension_is_a_parse_error() -> None:
    """pyca raises DuplicateExtension (not a ValueError) for an extension listed twice."""
    from asn1crypto import x509 as asn1_x509  # type: ignore[import-untyped]

    cert = asn1_x509.Certificate.load(_cert(GOOD).public_bytes(serialization.Encoding.DER))
    extensions = cert["tbs_certificate"]["extensions"]
    extensions.append(extensions[-1].copy())
    forged = x509.load_der_x509_certificate(cert.dump(force=True))
    with pytest.raises(ParseError) as caught:
        parse_pck_extensions(forged)
    assert "extensions" in caught.value.message and "\n" not in caught.value.message
