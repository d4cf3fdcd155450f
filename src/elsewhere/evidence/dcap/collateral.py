"""Intel collateral → typed records: TCB Info (v2, v3), QE Identity (v2), CRLs, issuer chains.

Accepted inputs (`load_collateral`):
- dcap-qvl's `QuoteCollateralV3` JSON (one file; CRLs as hex DER, `tcb_info` / `qe_identity` the
  exact signed JSON text, signatures hex r‖s);
- a directory of Intel PCS / PCCS responses: TCB Info and QE Identity response bodies
  (`{"tcbInfo": ..., "signature": ...}`), CRLs (DER, PEM or hex), issuer chains (PEM, also the
  URL-encoded form PCS puts in its `*-Issuer-Chain` headers). Files are recognised by content.

Signatures cover the exact bytes of the `tcbInfo` / `enclaveIdentity` value as served, so the
raw text is kept; the JSON is never re-serialised.
"""

from __future__ import annotations

import hashlib
import json
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509

from elsewhere.errors import InputError, ParseError
from elsewhere.evidence.dcap import schema
from elsewhere.evidence.dcap.documents import QeIdentity, TcbInfo, parse_qe_identity, parse_tcb_info

MAX_COLLATERAL_FILE = 4 << 20


@dataclass(frozen=True, slots=True)
class SignedDoc:
    body: bytes  # exactly the signed bytes
    signature: bytes  # 64-byte r‖s
    issuer_chain: tuple[bytes, ...]  # DER, signing certificate first


@dataclass(frozen=True)
class Collateral:
    """One bundle. Equality and hashing use the bytes only; build it with `build_collateral`
    so the parsed documents are always those bytes (verification caches key on it)."""

    tcb_info_doc: SignedDoc
    qe_identity_doc: SignedDoc
    root_ca_crl: bytes  # DER
    pck_crl: bytes  # DER
    pck_crl_issuer_chain: tuple[bytes, ...]
    tcb_info: TcbInfo = field(compare=False)
    qe_identity: QeIdentity = field(compare=False)
    digest: bytes = field(compare=False)  # identifies these bytes (cache keys, file names)

    def to_json(self) -> dict[str, str]:
        """dcap-qvl's QuoteCollateralV3 layout: what the cache stores and `--collateral` reads."""
        return {
            "pck_crl_issuer_chain": _pem_chain(self.pck_crl_issuer_chain),
            "root_ca_crl": self.root_ca_crl.hex(),
            "pck_crl": self.pck_crl.hex(),
            "tcb_info_issuer_chain": _pem_chain(self.tcb_info_doc.issuer_chain),
            "tcb_info": self.tcb_info_doc.body.decode(),
            "tcb_info_signature": self.tcb_info_doc.signature.hex(),
            "qe_identity_issuer_chain": _pem_chain(self.qe_identity_doc.issuer_chain),
            "qe_identity": self.qe_identity_doc.body.decode(),
            "qe_identity_signature": self.qe_identity_doc.signature.hex(),
        }


def _pem_chain(chain: tuple[bytes, ...]) -> str:
    from cryptography.hazmat.primitives.serialization import Encoding

    return "".join(
        x509.load_der_x509_certificate(der).public_bytes(Encoding.PEM).decode() for der in chain
    )


def raw_members(text: bytes, where: str) -> dict[str, bytes]:
    """Top-level members of a JSON object as their exact source bytes (to check signatures)."""
    decoder = json.JSONDecoder()
    try:
        source = text.decode()
    except UnicodeDecodeError:
        raise ParseError(where, "", "is not UTF-8 text") from None
    pos = len(source) - len(source.lstrip())
    members: dict[str, bytes] = {}
    try:
        if source[pos : pos + 1] != "{":
            raise ValueError("not an object")
        pos += 1
        while True:
            pos = len(source) - len(source[pos:].lstrip())
            if source[pos] == "}" and not members:
                break
            key, pos = decoder.raw_decode(source, pos)
            if not isinstance(key, str):
                raise ValueError("member name is not a string")
            pos = source.index(":", pos) + 1
            pos = len(source) - len(source[pos:].lstrip())
            _, end = decoder.raw_decode(source, pos)
            members[key] = source[pos:end].encode()
            pos = len(source) - len(source[end:].lstrip())
            if source[pos] == "}":
                break
            if source[pos] != ",":
                raise ValueError("expected , or }")
            pos += 1
    except (ValueError, IndexError) as error:
        raise ParseError(where, "", f"is not a JSON object ({error})") from None
    except RecursionError:
        raise ParseError(where, "", "is not a JSON object (nested too deeply)") from None
    return members


# -- certificates and CRLs in the forms Intel and PCCS serve ----------------------------------


def pem_chain(text: bytes | str, where: str) -> tuple[bytes, ...]:
    """PEM (or URL-encoded PEM) certificates → DER, in the given order."""
    from cryptography.hazmat.primitives.serialization import Encoding

    raw = text.encode() if isinstance(text, str) else text
    if b"%2D" in raw or b"%0A" in raw:
        raw = urllib.parse.unquote_to_bytes(raw)
    try:
        certs = x509.load_pem_x509_certificates(raw)
        for cert in certs:  # pyca parses names lazily: a malformed one fails here, typed
            _ = (cert.subject.rfc4514_string(), cert.issuer.rfc4514_string())
    except (ValueError, TypeError, x509.InvalidVersion) as error:
        raise ParseError(where, "", f"is not a PEM certificate chain ({error})") from None
    return tuple(c.public_bytes(Encoding.DER) for c in certs)


def crl_der(data: bytes | str, where: str) -> bytes:
    """A CRL given as DER, PEM or hex DER → DER (parsed once to check it is a CRL)."""
    from cryptography.hazmat.primitives.serialization import Encoding

    raw = data.encode() if isinstance(data, str) else data
    try:
        if raw.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_crl(raw).public_bytes(Encoding.DER)
        if raw[:1] != b"\x30":
            raw = bytes.fromhex(raw.decode().strip())
        crl = x509.load_der_x509_crl(raw)
        # pyca parses lazily: touch what verification reads so a malformed CRL fails here.
        _ = (crl.issuer.rfc4514_string(), crl.last_update_utc, crl.next_update_utc, list(crl))
    except (ValueError, TypeError, UnicodeDecodeError, x509.InvalidVersion) as error:
        # TypeError: pyca on a name attribute whose type its OID may not have (BIT STRING CN)
        raise ParseError(where, "", f"is not a CRL in DER, PEM or hex ({error})") from None
    return raw


def _bytes(value: str | list[int], where: str, key: str) -> bytes:
    """A dcap-qvl byte field: hex text or a JSON list of bytes."""
    if isinstance(value, list):
        return bytes(value)
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise ParseError(where, key, "is not hex") from None


def _signature(sig: bytes, where: str) -> bytes:
    if len(sig) != 64:
        raise ParseError(where, "signature", f"is {len(sig)} bytes, expected 64 (r‖s)")
    return sig


def build_collateral(
    tcb_info_doc: SignedDoc,
    qe_identity_doc: SignedDoc,
    root_ca_crl: bytes,
    pck_crl: bytes,
    pck_crl_issuer_chain: tuple[bytes, ...],
) -> Collateral:
    digest = hashlib.sha256()
    for part in (tcb_info_doc.body, tcb_info_doc.signature, *tcb_info_doc.issuer_chain):
        digest.update(len(part).to_bytes(4, "big") + part)
    for part in (qe_identity_doc.body, qe_identity_doc.signature, *qe_identity_doc.issuer_chain):
        digest.update(len(part).to_bytes(4, "big") + part)
    for part in (root_ca_crl, pck_crl, *pck_crl_issuer_chain):
        digest.update(len(part).to_bytes(4, "big") + part)
    return Collateral(
        tcb_info_doc,
        qe_identity_doc,
        root_ca_crl,
        pck_crl,
        pck_crl_issuer_chain,
        parse_tcb_info(tcb_info_doc.body),
        parse_qe_identity(qe_identity_doc.body),
        digest.digest(),
    )


def parse_dcap_qvl_json(text: bytes) -> Collateral:
    where = "collateral JSON"
    doc = schema.validate(schema.QuoteCollateralV3, text, "", where)
    return build_collateral(
        SignedDoc(
            doc.tcb_info.encode(),
            _signature(_bytes(doc.tcb_info_signature, where, "tcb_info_signature"),
                       f"{where} tcb_info"),
            pem_chain(doc.tcb_info_issuer_chain, f"{where} tcb_info_issuer_chain"),
        ),
        SignedDoc(
            doc.qe_identity.encode(),
            _signature(_bytes(doc.qe_identity_signature, where, "qe_identity_signature"),
                       f"{where} qe_identity"),
            pem_chain(doc.qe_identity_issuer_chain, f"{where} qe_identity_issuer_chain"),
        ),
        crl_der(_crl(doc.root_ca_crl), f"{where} root_ca_crl"),
        crl_der(_crl(doc.pck_crl), f"{where} pck_crl"),
        pem_chain(doc.pck_crl_issuer_chain, f"{where} pck_crl_issuer_chain"),
    )  # fmt: skip


def _crl(value: str | list[int]) -> bytes | str:
    return bytes(value) if isinstance(value, list) else value


class _SignedResponse(schema.Model):
    signature: str


def signed_response(text: bytes, member: str, where: str) -> tuple[bytes, bytes]:
    members = raw_members(text, where)
    if member not in members:
        raise ParseError(where, member, "missing")
    response = schema.validate(_SignedResponse, text, "", where)  # other members: ignored
    return members[member], _signature(_bytes(response.signature, where, "signature"), where)


def parse_pcs_directory(directory: Path) -> Collateral:
    """Recognise PCS / PCCS response files in a directory by their content."""
    found: dict[str, Any] = {}
    for path in sorted(p for p in directory.iterdir() if p.is_file()):
        data = _read(path)
        where = str(path)
        head = data.lstrip()[:1]
        if head == b"{":
            members = raw_members(data, where)
            if "tcbInfo" in members:
                found["tcb_info"] = signed_response(data, "tcbInfo", where)
            elif "enclaveIdentity" in members:
                found["qe_identity"] = signed_response(data, "enclaveIdentity", where)
            continue
        if b"CERTIFICATE-----" in data or b"CERTIFICATE%2D" in data:
            chain = pem_chain(data, where)
            leaf_cn = _cn(x509.load_der_x509_certificate(chain[0]).subject)
            found["tcb_chain" if "TCB Signing" in leaf_cn else "pck_chain"] = chain
            continue
        try:
            der = crl_der(data, where)
        except ParseError:
            continue  # not collateral (a README, a quote): ignored
        issuer = _cn(x509.load_der_x509_crl(der).issuer)
        found["root_crl" if "Root CA" in issuer else "pck_crl"] = der
    labels = {
        "tcb_info": "a TCB Info response ({tcbInfo, signature})",
        "qe_identity": "a QE Identity response ({enclaveIdentity, signature})",
        "tcb_chain": "the TCB Info / QE Identity issuer chain (PEM)",
        "root_crl": "the Intel SGX Root CA CRL",
        "pck_crl": "the PCK CRL (platform or processor CA)",
        "pck_chain": "the PCK CRL issuer chain (PEM)",
    }
    missing = [text for key, text in labels.items() if key not in found]
    if missing:
        raise InputError("collateral", str(directory), "missing " + "; ".join(missing))
    tcb_chain = found["tcb_chain"]
    return build_collateral(
        SignedDoc(found["tcb_info"][0], found["tcb_info"][1], tcb_chain),
        SignedDoc(found["qe_identity"][0], found["qe_identity"][1], tcb_chain),
        found["root_crl"],
        found["pck_crl"],
        found["pck_chain"],
    )


def _cn(name: x509.Name) -> str:
    attrs = name.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else ""


def _read(path: Path) -> bytes:
    try:
        if path.stat().st_size > MAX_COLLATERAL_FILE:
            raise InputError("collateral", str(path), "is larger than 4 MiB")
        return path.read_bytes()
    except OSError as error:
        raise InputError("collateral", str(path), error.strerror or str(error)) from None


def load_collateral(path: Path) -> Collateral:
    """Collateral from a dcap-qvl JSON file or a directory of PCS responses."""
    if path.is_dir():
        return parse_pcs_directory(path)
    if not path.exists():
        raise InputError("collateral", str(path), "no such file or directory")
    return parse_dcap_qvl_json(_read(path))
