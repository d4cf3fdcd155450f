"""Attestation-result tokens: JWT (JWS compact serialisation, ES256) built with pyca/cryptography.

Claims follow the IETF RATS attestation-result work (EAT, draft-ietf-rats-ear): `eat_profile`,
`iat`, `exp`, `iss`, `eat_nonce`, and `verdict` with EAR's status values ("affirming",
"contraindicated"); plus what the relying party needs to tie the result to one keep: TEE,
generation, TCB status, workload digest, policy digest, keep key digest. docs/control-plane.md
lists them. The signing key is an ECDSA P-256 key in the data directory (PEM, mode 0600); its
public half is served as a JWK at /.well-known/jwks.json.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from elsewhere.errors import ConfigError, VerificationFailed
from elsewhere.privatefile import read_or_create_private

EAT_PROFILE = "tag:elsewhere.dev,2025:ear/1"
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

    def sign(self, claims: dict[str, Any]) -> str:
        header = {"alg": "ES256", "typ": "JWT", "kid": self.kid}
        signing_input = (
            b64url(json.dumps(header, separators=(",", ":")).encode())
            + "."
            + b64url(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
        )
        der = self.key.sign(signing_input.encode("ascii"), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return signing_input + "." + b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def load_signer(data_dir: Path) -> Signer:
    """The data directory's signing key, created (mode 0600) on first use."""
    path = data_dir / KEY_FILE
    pem = read_or_create_private(path, _new_p256_pem, what="result signing key")
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ConfigError(str(path), "key", "not an ECDSA P-256 private key")
    return Signer(key)


def _new_p256_pem() -> bytes:
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
    """Check an ES256 JWS compact token and return its claims; raise VerificationFailed."""
    parts = token.split(".")
    if len(parts) != 3:
        raise VerificationFailed("token is not a JWS compact serialisation (three parts)")
    try:
        header = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]))
        signature = b64url_decode(parts[2])
    except ValueError:
        raise VerificationFailed("token parts are not base64url JSON") from None
    if not isinstance(header, dict) or header.get("alg") != "ES256":
        raise VerificationFailed("token algorithm is not ES256")
    if len(signature) != 64 or not isinstance(claims, dict):
        raise VerificationFailed("token signature is not 64 bytes (r ‖ s)")
    der = encode_dss_signature(
        int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    )
    try:
        key.verify(der, f"{parts[0]}.{parts[1]}".encode("ascii"), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise VerificationFailed("token signature does not verify") from None
    if now is not None and float(claims.get("exp", 0)) < now:
        raise VerificationFailed("token expired")
    return claims
