"""Collateral documents through the pydantic models (#14 item 4) and the inputs that raised
untyped exceptions (#21 defect 6): each is one located ParseError line, nothing else."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from dcap_support import CASES
from elsewhere.errors import ParseError
from elsewhere.evidence.dcap.collateral import load_collateral, parse_dcap_qvl_json
from elsewhere.evidence.dcap.documents import parse_qe_identity, parse_tcb_info
from elsewhere.evidence.dcap.emulate import EmulatedTdxPlatform


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> EmulatedTdxPlatform:
    return EmulatedTdxPlatform.create(tmp_path_factory.mktemp("tdx"))


@pytest.fixture(scope="module")
def bundle(platform: EmulatedTdxPlatform) -> dict[str, str]:
    return platform.collateral().to_json()


def _refused(text: bytes | str) -> str:
    raw = text.encode() if isinstance(text, str) else text
    with pytest.raises(ParseError) as caught:
        parse_dcap_qvl_json(raw)
    message = caught.value.message
    assert "\n" not in message and len(message) < 400, message
    return message


def test_located_error_names_the_json_path(vectors: Path) -> None:
    """The example from #14: a component SVN that is not an integer, four levels down."""
    body = json.loads(CASES[5].load(vectors).tcb_info_doc.body)  # GCP: four levels
    assert len(body["tcbLevels"]) > 3
    body["tcbLevels"][3]["tcb"]["sgxtcbcomponents"][0]["svn"] = "7"
    with pytest.raises(ParseError) as caught:
        parse_tcb_info(json.dumps(body).encode())
    assert caught.value.message == (
        "TCB Info: tcbInfo.tcbLevels[3].tcb.sgxtcbcomponents[0].svn: expected integer"
    )


@pytest.mark.parametrize(
    ("change", "path", "why"),
    [
        (lambda d: d.update(version=True), "enclaveIdentity.version", "expected integer"),
        (lambda d: d.update(mrsigner="zz" * 32), "enclaveIdentity.mrsigner", "hex"),
        (lambda d: d.update(isvprodid=2.0), "enclaveIdentity.isvprodid", "expected integer"),
        (lambda d: d["tcbLevels"][0].update(tcbStatus="Fine"), "tcbLevels[0].tcbStatus",
         "not a known TCB status"),
        (lambda d: d.pop("attributesMask"), "enclaveIdentity.attributesMask", "missing"),
        (lambda d: d.update(issueDate="yesterday"), "enclaveIdentity.issueDate", "ISO 8601"),
    ],
    ids=["bool-version", "not-hex", "float", "status", "missing", "date"],
)  # fmt: skip
def test_qe_identity_errors_are_located(
    bundle: dict[str, str], change: object, path: str, why: str
) -> None:
    doc = json.loads(bundle["qe_identity"])
    change(doc)  # type: ignore[operator]
    with pytest.raises(ParseError) as caught:
        parse_qe_identity(json.dumps(doc).encode())
    assert path in caught.value.message and why in caught.value.message, caught.value.message


def test_deep_json_is_a_parse_error(bundle: dict[str, str], tmp_path: Path) -> None:
    """100,000 nested arrays raised RecursionError from the JSON reader."""
    deep = "[" * 100_000 + "]" * 100_000
    assert "JSON" in _refused('{"tcb_info": ' + deep + "}")
    assert "TCB Info: tcbInfo: not JSON" in _refused(json.dumps({**bundle, "tcb_info": deep}))
    # A PCS directory: the response file itself nests too deeply.
    (tmp_path / "tcbinfo.json").write_text('{"tcbInfo": ' + deep + ', "signature": "00"}')
    with pytest.raises(ParseError, match="nested too deeply"):
        load_collateral(tmp_path)


def test_lone_surrogate_in_issuer_chain_is_a_parse_error(bundle: dict[str, str]) -> None:
    """A JSON \\ud800 escape gave a str that could not be encoded (UnicodeEncodeError)."""
    text = json.dumps(bundle).replace(
        '"tcb_info_issuer_chain": "', '"tcb_info_issuer_chain": "\\ud800', 1
    )
    assert "collateral JSON" in _refused(text)


def _retag_cn(der: bytes) -> bytes:
    """The certificate's (or CRL's) first CN value re-tagged from UTF8String to BIT STRING."""
    at = der.find(b"\x06\x03\x55\x04\x03\x0c")  # OID 2.5.4.3 then UTF8String
    assert at > 0
    return der[: at + 5] + b"\x03" + der[at + 6 :]


def _pem(der: bytes) -> str:
    b64 = base64.b64encode(der).decode()
    lines = "".join(b64[i : i + 64] + "\n" for i in range(0, len(b64), 64))
    return f"-----BEGIN CERTIFICATE-----\n{lines}-----END CERTIFICATE-----\n"


def test_mutated_name_in_collateral_certificate_is_a_parse_error(
    platform: EmulatedTdxPlatform, bundle: dict[str, str], tmp_path: Path
) -> None:
    """pyca raises TypeError for a CN that is a BIT STRING; that is malformed input."""
    chain = _pem(_retag_cn(platform.certs["tcb-signing"])) + _pem(platform.certs["root"])
    message = _refused(json.dumps({**bundle, "tcb_info_issuer_chain": chain}))
    assert "tcb_info_issuer_chain" in message, message
    # The same chain as a PCS file (recognised by its leaf CN, which must be read).
    (tmp_path / "chain.pem").write_text(chain)
    with pytest.raises(ParseError, match=r"chain\.pem"):
        load_collateral(tmp_path)


def test_mutated_name_in_crl_is_a_parse_error(bundle: dict[str, str]) -> None:
    crl = _retag_cn(bytes.fromhex(bundle["pck_crl"]))
    assert x509.load_der_x509_crl(crl) is not None  # loads; the name fails only when read
    message = _refused(json.dumps({**bundle, "pck_crl": crl.hex()}))
    assert "pck_crl" in message, message


def test_emulated_names_are_utf8(platform: EmulatedTdxPlatform) -> None:
    """The mutation above relies on the emulator writing CNs as UTF8String."""
    cert = x509.load_der_x509_certificate(platform.certs["tcb-signing"])
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value.endswith("Signing")
