"""Trust anchors and certificate-chain checks for DCAP.

The Intel SGX Root CA is pinned by its SHA-256 fingerprint; the certificate itself comes with
the evidence (the quote's PCK chain) and the collateral (issuer chains) and must hash to the pin.
Emulation roots are accepted only when the caller lists their fingerprints explicitly.

Chain checks are split so the expensive part (signatures, parsing) is done once per set of
certificate bytes and cached by the caller, while the cheap part (validity window against the
verification time) runs every time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec

from elsewhere.evidence.anchors import untrusted_emulated_problem

INTEL_SGX_ROOT_CA_SHA256 = bytes.fromhex(
    "44A0196B2B99F889B8E149E95B807A350E7424964399E885A7CBB8CCFAB674D3"
)


def fingerprint(der: bytes) -> bytes:
    return hashlib.sha256(der).digest()


def root_kind(der: bytes, emulated_roots: Iterable[bytes]) -> str | None:
    """'intel' for the pinned Intel root, 'emulated' for an explicitly trusted emulation root."""
    digest = fingerprint(der)
    if digest == INTEL_SGX_ROOT_CA_SHA256:
        return "intel"
    if digest in frozenset(emulated_roots):
        return "emulated"
    return None


@dataclass(frozen=True, slots=True)
class ChainCheck:
    """Time-independent result of checking one chain (leaf first, root last)."""

    problem: str | None  # why the chain is unusable, or None
    root: str | None  # "intel" | "emulated"
    not_before: dt.datetime  # latest notBefore over the chain
    not_after: dt.datetime  # earliest notAfter over the chain
    certs: tuple[x509.Certificate, ...]

    def window_problem(self, at: dt.datetime) -> str | None:
        if at < self.not_before:
            return f"not yet valid at {at:%Y-%m-%dT%H:%M:%SZ} (from {self.not_before:%Y-%m-%d})"
        if at > self.not_after:
            return f"expired at {at:%Y-%m-%dT%H:%M:%SZ} (valid until {self.not_after:%Y-%m-%d})"
        return None


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def check_chain(chain: tuple[bytes, ...], emulated_roots: frozenset[bytes]) -> ChainCheck:
    """Signatures and issuer names along the chain, and the root against the pins."""
    try:
        return _check_chain(chain, emulated_roots)
    except (
        ValueError,
        TypeError,  # pyca: a name attribute with a type its OID may not have (BIT STRING CN)
        UnsupportedAlgorithm,
        x509.InvalidVersion,
    ) as error:  # a lazily parsed field is malformed
        return ChainCheck(f"malformed certificate ({error})", None, _EPOCH, _EPOCH, ())


def _check_chain(chain: tuple[bytes, ...], emulated_roots: frozenset[bytes]) -> ChainCheck:
    certs = [x509.load_der_x509_certificate(der) for der in chain]
    for cert in certs:  # pyca parses names lazily: fail here, not in a message later
        _ = (cert.subject.rfc4514_string(), cert.issuer.rfc4514_string())
    if len(certs) < 2:
        return ChainCheck("fewer than two certificates", None, _EPOCH, _EPOCH, tuple(certs))
    not_before = max(c.not_valid_before_utc for c in certs)
    not_after = min(c.not_valid_after_utc for c in certs)
    kind = root_kind(chain[-1], emulated_roots)
    problem = None
    if kind is None:
        problem = untrusted_emulated_problem(certs[-1], chain[-1]) or (
            "root is neither the pinned Intel SGX Root CA nor a trusted emulation root"
        )
    for child, parent in zip(certs, certs[1:] + certs[-1:], strict=True):
        if problem:
            break
        if not isinstance(parent.public_key(), ec.EllipticCurvePublicKey):
            problem = f"{_cn(parent)} does not have an EC key"
            break
        try:
            child.verify_directly_issued_by(parent)
        except (ValueError, TypeError, InvalidSignature):
            problem = f"{_cn(child)} is not signed by {_cn(parent)}"
    if problem is None and not isinstance(certs[0].public_key(), ec.EllipticCurvePublicKey):
        problem = f"{_cn(certs[0])} does not have an EC key"
    return ChainCheck(problem, kind, not_before, not_after, tuple(certs))


# Certificate roles by subject CN, as Intel's QVL checks them (CertificateChainValidation:
# the TCB signer must be "Intel SGX TCB Signing" issued directly by the root; the PCK by a
# PCK Processor or Platform CA). An emulation root's names carry its own prefix instead.
ROLE_PREFIX = {"intel": "Intel ", "emulated": "Elsewhere emulated "}
ROOT_CA = "SGX Root CA"
TCB_SIGNING = "SGX TCB Signing"
PCK_CAS = ("SGX PCK Processor CA", "SGX PCK Platform CA")
PCK_LEAF = "SGX PCK Certificate"


def role(cert: x509.Certificate, root: str | None) -> str:
    """The role a certificate's CN names under this root ('' when it names none)."""
    cn = _cn(cert)
    prefix = ROLE_PREFIX.get(root or "", "")
    return cn[len(prefix) :] if prefix and cn.startswith(prefix) else ""


def role_problem(chain: ChainCheck, roles: tuple[tuple[str, ...], ...]) -> str | None:
    """None when the chain is exactly one certificate per entry of `roles` (leaf first, root
    last) and each certificate's CN names one of the roles allowed at its place."""
    names = " → ".join("/".join(r) for r in roles)
    if len(chain.certs) != len(roles):
        return f"{len(chain.certs)} certificates, expected {len(roles)} ({names})"
    for cert, allowed in zip(chain.certs, roles, strict=True):
        if role(cert, chain.root) not in allowed:
            return f"signed by {_cn(cert)!r}, which is not the {' or '.join(allowed)} certificate"
    return None


def check_crl(crl: x509.CertificateRevocationList, issuer: x509.Certificate) -> str | None:
    """CRL signature and issuer name (time is checked by the caller)."""
    if crl.issuer != issuer.subject:
        return f"CRL issuer {crl.issuer.rfc4514_string()} is not {_cn(issuer)}"
    key = issuer.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or not crl.is_signature_valid(key):
        return f"CRL signature does not verify with {_cn(issuer)}"
    return None


def _cn(cert: x509.Certificate) -> str:
    attrs = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else cert.subject.rfc4514_string()
