"""Trust anchors: root certificates a verifier may end a chain at.

Vendor roots are pinned in code by SHA-256 fingerprint (see each vendor's `roots` module).
Emulated roots are never trusted implicitly: a caller builds a `TrustAnchor` from the root it
created and passes it in `EvidenceOptions.trusted_emulated_roots`; every result that chains to
it is marked emulated.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.utils import CryptographyDeprecationWarning

from elsewhere.errors import InputError

# Every emulated root this project makes carries this in its organisation name (SNP and TDX).
EMULATED_MARK = "Elsewhere EMULATED"
# How a failure about an emulated root the verifier was not given begins (trust/reputation
# reads it: a missing root is the verifier's configuration, not the host's bad evidence).
UNTRUSTED_EMULATED_ROOT = "emulated root"
UNTRUSTED_EMULATED_SUFFIX = "not among the emulated roots this verifier trusts"


def untrusted_emulated_problem(cert: x509.Certificate, der: bytes) -> str | None:
    """For an untrusted root that is one of this project's emulated roots: a problem naming it
    (CN and fingerprint) and saying "emulated", so it cannot read like a vendor's real root
    being rejected. None for any other certificate."""
    try:
        orgs = cert.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)
        names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    except ValueError:
        return None
    if not any(EMULATED_MARK in str(org.value) for org in orgs):
        return None
    name = str(names[0].value) if names else "?"
    return (
        f"{UNTRUSTED_EMULATED_ROOT} {name!r} (SHA-256 {hashlib.sha256(der).hexdigest()[:16]}…) "
        f"is {UNTRUSTED_EMULATED_SUFFIX}"
    )


def is_untrusted_emulated(found: str) -> bool:
    """Whether a failure's `found` is `untrusted_emulated_problem`'s."""
    return found.startswith(UNTRUSTED_EMULATED_ROOT + " ") and found.endswith(
        UNTRUSTED_EMULATED_SUFFIX
    )


class CertificateWarning(ValueError):
    """A warning cryptography printed for a certificate field (e.g. a 3-letter country name),
    raised instead so the caller refuses the certificate in one line."""


@contextmanager
def quiet_serials() -> Iterator[None]:
    """AMD issues VCEKs with serial number 0; cryptography warns about that, we accept it.
    Any other warning about the certificate's contents becomes a `CertificateWarning`."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", category=CryptographyDeprecationWarning)
        try:
            yield
        except Warning as warning:
            raise CertificateWarning(f"{type(warning).__name__}: {warning}") from None


# What pyca/cryptography raises for hostile DER, often lazily on first use of a field.
_CERT_ERRORS = (
    ValueError,
    TypeError,
    x509.InvalidVersion,
    x509.DuplicateExtension,
    UnsupportedAlgorithm,
)


def load_der(der: bytes, where: str) -> x509.Certificate:
    """A DER certificate whose every field the verifier reads has been parsed once, so hostile
    encodings fail here, as one InputError, and not later inside a check."""
    try:
        with quiet_serials():
            cert = x509.load_der_x509_certificate(der)
            _ = (cert.subject, cert.issuer, cert.extensions, cert.public_key())
            _ = (cert.signature_hash_algorithm, cert.signature_algorithm_parameters)
            _ = (cert.not_valid_before_utc, cert.not_valid_after_utc, cert.tbs_certificate_bytes)
    except _CERT_ERRORS as error:
        reason = str(error).split("\n", 1)[0][:120] or type(error).__name__
        raise InputError(
            "certificate", where, f"not a usable X.509 certificate ({reason})"
        ) from None
    return cert


def load_certificates(data: bytes, where: str) -> tuple[bytes, ...]:
    """DER bytes of every certificate in a PEM bundle or a single DER certificate."""
    stripped = data.lstrip()
    try:
        with quiet_serials():
            if stripped.startswith(b"-----BEGIN"):
                certs = x509.load_pem_x509_certificates(data)
                return tuple(cert.public_bytes(Encoding.DER) for cert in certs)
        load_der(data, where)
        return (bytes(data),)
    except _CERT_ERRORS as error:
        reason = str(error).split("\n", 1)[0][:120] or "not a certificate"
        raise InputError(
            "certificate", where, f"not a PEM or DER X.509 certificate ({reason})"
        ) from None


@dataclass(frozen=True)
class TrustAnchor:
    """A root certificate (DER) trusted to end a chain; `emulated` marks development roots."""

    name: str
    der: bytes
    emulated: bool = True
    fingerprint: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "fingerprint", hashlib.sha256(self.der).hexdigest())

    @classmethod
    def emulated_root(cls, data: bytes, where: str = "emulated root") -> TrustAnchor:
        """An explicitly trusted emulated root from PEM or DER bytes (exactly one certificate)."""
        ders = load_certificates(data, where)
        if len(ders) != 1:
            raise InputError("trust anchor", where, f"expected one certificate, found {len(ders)}")
        cert = load_der(ders[0], where)
        return cls(name=cert.subject.rfc4514_string(), der=ders[0], emulated=True)

    @classmethod
    def emulated_root_file(cls, path: Path) -> TrustAnchor:
        try:
            data = path.read_bytes()
        except OSError as error:
            raise InputError("trust anchor", str(path), error.strerror or "unreadable") from None
        return cls.emulated_root(data, str(path))
