"""A development certificate authority and server certificates (pyca cryptography).

Two uses, one code: `elsewhere serve --tls auto` keeps a CA in the data directory (created
once, reused on every start) and issues the server's certificate for the listen host from it;
the commons demo and the tests make a throwaway CA per run (`DevCA.create`). Either way the
CA's private key lies on the same disk as the certificates it signs, so it vouches for nothing
beyond this machine: a DEVELOPMENT CA. Real deployments use certificates from their own PKI
(`serve --tls-cert/--tls-key`; docs/deploy.md).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from elsewhere.errors import ConfigError
from elsewhere.privatefile import read_private, write_private

LIFETIME = dt.timedelta(days=2)  # a throwaway CA's (tests, the commons demo)
AUTO_CA_LIFETIME = dt.timedelta(days=3650)  # `serve --tls auto`: its CA is kept and reused
AUTO_SERVER_LIFETIME = dt.timedelta(days=397)  # …and its server certificate re-issued when due
RENEW_BEFORE = dt.timedelta(days=7)
CA_NAME = "elsewhere development CA (not for production)"
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
WILDCARDS = ("0.0.0.0", "::", "")


@dataclass(frozen=True)
class ServerFiles:
    cert: Path
    key: Path


@dataclass(frozen=True)
class AutoTLS:
    """What `serve --tls auto` serves with, and whether it made anything new this time."""

    ca: Path
    server: ServerFiles
    created_ca: bool
    issued: bool


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name.strip("[]")))
    except ValueError:
        return x509.DNSName(name)


@dataclass(frozen=True)
class DevCA:
    cert_path: Path
    _key: ec.EllipticCurvePrivateKey
    _cert: x509.Certificate

    @classmethod
    def create(cls, directory: Path, *, lifetime: dt.timedelta = LIFETIME) -> DevCA:
        """A new CA whose certificate is written to `directory`/ca.pem (its key stays in memory)."""
        key = ec.generate_private_key(ec.SECP256R1())
        cert = cls._self_signed(key, lifetime)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / "ca.pem"
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return cls(path, key, cert)

    @classmethod
    def load_or_create(cls, directory: Path) -> tuple[DevCA, bool]:
        """The CA kept in `directory` (ca.pem, ca.key owner-only), created on first use; True
        when it was created now. A damaged pair is refused with one line, never replaced
        silently: clients that trust the old CA would stop connecting for no visible reason."""
        cert_path, key_path = directory / "ca.pem", directory / "ca.key"
        if not cert_path.exists() and not key_path.exists():
            key = ec.generate_private_key(ec.SECP256R1())
            cert = cls._self_signed(key, AUTO_CA_LIFETIME)
            write_private(key_path, _pem_key(key), what="development CA key")
            cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
            return cls(cert_path, key, cert), True
        try:
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
            loaded = serialization.load_pem_private_key(
                read_private(key_path, what="development CA key"), None
            )
        except (OSError, ValueError, TypeError):
            raise ConfigError(
                "development CA",
                str(directory),
                "ca.pem or ca.key missing or unreadable; remove both to issue a new CA",
            ) from None
        if not isinstance(loaded, ec.EllipticCurvePrivateKey) or (
            loaded.public_key().public_numbers() != cert.public_key().public_numbers()  # type: ignore[union-attr]
        ):
            raise ConfigError("development CA", str(directory), "ca.key does not match ca.pem")
        return cls(cert_path, loaded, cert), False

    @staticmethod
    def _self_signed(key: ec.EllipticCurvePrivateKey, lifetime: dt.timedelta) -> x509.Certificate:
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME)])
        now = dt.datetime.now(dt.UTC)
        return (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + lifetime)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )

    def server(
        self,
        directory: Path,
        name: str,
        host: str = "127.0.0.1",
        *,
        also: Sequence[str] = (),
        lifetime: dt.timedelta = LIFETIME,
    ) -> ServerFiles:
        """A server certificate for `host` (and the names in `also`), written with its key
        (owner-only) to `directory`/NAME.crt and NAME.key, replacing earlier ones."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        names = [_general_name(n) for n in dict.fromkeys((host, *also))]
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(self._cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(min(now + lifetime, self._cert.not_valid_after_utc))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(True, False, False, False, False, False, False, False, False),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), False
            )
            .sign(self._key, hashes.SHA256())
        )
        directory.mkdir(parents=True, exist_ok=True)
        files = ServerFiles(directory / f"{name}.crt", directory / f"{name}.key")
        write_private(files.key, _pem_key(key), what="server key", overwrite=True)
        files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return files

    def covers(self, files: ServerFiles, names: Sequence[str]) -> bool:
        """Whether the certificate in `files` is this CA's, valid for a while yet, and names
        every one of `names`: if so `serve --tls auto` reuses it."""
        try:
            cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
            read_private(files.key, what="server key")
            sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except (OSError, ValueError, ConfigError, x509.ExtensionNotFound):
            return False
        fresh = cert.not_valid_after_utc - RENEW_BEFORE > dt.datetime.now(dt.UTC)
        return (
            cert.issuer == self._cert.subject
            and fresh
            and all(_general_name(n) in sans for n in names)
        )


def auto_tls(directory: Path, host: str) -> AutoTLS:
    """`serve --tls auto`: the development CA in `directory` (created once) and a server
    certificate from it naming `host` (this machine's name for a wildcard), localhost,
    127.0.0.1 and ::1; issued again only when missing, due, or not naming them."""
    ca, created = DevCA.load_or_create(directory)
    # A wildcard address is no name a client connects to: this machine's name stands for it.
    listen = socket.gethostname() if host in WILDCARDS else host
    names = list(dict.fromkeys((listen, *LOOPBACK_NAMES)))
    files = ServerFiles(directory / "server.crt", directory / "server.key")
    if not created and ca.covers(files, names):
        return AutoTLS(ca.cert_path, files, created_ca=False, issued=False)
    files = ca.server(directory, "server", names[0], also=names[1:], lifetime=AUTO_SERVER_LIFETIME)
    return AutoTLS(ca.cert_path, files, created_ca=created, issued=True)
