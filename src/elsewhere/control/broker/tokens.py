"""Attestation-result tokens: EAR (draft-ietf-rats-ear-04) as ES256 JWTs, via `elsewhere.ear`.

This module keeps only the control plane's key handling: the signing key is an ECDSA P-256 key
in the data directory (PEM, mode 0600); its public half is served as a JWK at
/.well-known/jwks.json. Claims, signing and verification are `elsewhere.ear` (docs/claims.md).
"""

from __future__ import annotations

import base64
import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc.jwk import ECKey

from elsewhere.ear import jws
from elsewhere.ear.result import PROFILE as EAT_PROFILE
from elsewhere.errors import ConfigError, VerificationFailed
from elsewhere.privatefile import read_or_create_private

__all__ = [
    "EAT_PROFILE",
    "Signer",
    "b64url",
    "b64url_decode",
    "load_signer",
    "public_key_from_jwk",
    "verify",
]
KEY_FILE = "ear-signing-key.pem"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _coordinate(value: int) -> str:
    return b64url(value.to_bytes(32, "big"))


@dataclass(frozen=True)
class Signer:
    key: ec.EllipticCurvePrivateKey

    @property
    def jwk(self) -> dict[str, str]:
        numbers = self.key.public_key().public_numbers()
        return {
            "kty": "EC",
            "crv": "P-256",
            "x": _coordinate(numbers.x),
            "y": _coordinate(numbers.y),
            "alg": "ES256",
            "use": "sig",
            "kid": self.kid,
        }

    @functools.cached_property
    def kid(self) -> str:
        der = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return b64url(hashlib.sha256(der).digest()[:16])

    @functools.cached_property
    def _jose_key(self) -> ECKey:
        return jws.signing_key(self.key)

    def sign(self, claims: dict[str, Any]) -> str:
        return jws.sign(claims, self._jose_key, self.kid)


def load_signer(data_dir: Path) -> Signer:
    """The data directory's signing key, created (mode 0600) on first use."""
    path = data_dir / KEY_FILE
    pem = read_or_create_private(path, new_p256_pem, what="result signing key")
    return parse_signer(pem, path)


def parse_signer(pem: bytes, path: Path) -> Signer:
    """The signer of a PEM private key read from `path` (named in the one-line error)."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        raise ConfigError(str(path), "key", "not a PEM private key without a password") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ConfigError(str(path), "key", "not an ECDSA P-256 private key")
    return Signer(key)


def new_p256_pem() -> bytes:
    return ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_key_from_jwk(jwk: dict[str, str]) -> ec.EllipticCurvePublicKey:
    if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
        raise VerificationFailed("JWK is not an EC P-256 key")
    x = int.from_bytes(b64url_decode(jwk["x"]), "big")
    y = int.from_bytes(b64url_decode(jwk["y"]), "big")
    return ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()


def verify(
    token: str, key: ec.EllipticCurvePublicKey, *, now: float | None = None
) -> dict[str, Any]:
    """Check an ES256 JWT and return its claims; `exp` is always enforced (at `now`, default
    the current time). Raises VerificationFailed."""
    return jws.verify(token, key, now=now)
