"""EAR as a JWT: ES256 signing and verification with joserfc (RFC 7515/7519).

Verification always enforces `exp` (a token without one is refused) and a present `iat`, at
the time given or now; the key comes from a JWKS (the control plane's /.well-known/jwks.json,
saved for offline use) and is chosen by the token's `kid`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet

from elsewhere.errors import InputError, VerificationFailed

ALGORITHM = "ES256"
_WHAT = "EAR token"


def signing_key(key: ec.EllipticCurvePrivateKey) -> ECKey:
    """The key in joserfc's form; import once and reuse (about 10 µs a time)."""
    return ECKey.import_key(key)


def sign(claims: Mapping[str, Any], key: ECKey | ec.EllipticCurvePrivateKey, kid: str) -> str:
    header = {"alg": ALGORITHM, "typ": "JWT", "kid": kid}
    jose = key if isinstance(key, ECKey) else signing_key(key)
    return jwt.encode(header, dict(claims), jose, algorithms=[ALGORITHM])


def load_jwks(text: str | bytes, source: str = "JWKS") -> KeySet:
    """A JWK Set (RFC 7517 §5) of EC P-256 keys; one InputError line if it is not one."""
    try:
        doc = json.loads(text)
    except (ValueError, UnicodeDecodeError) as error:
        raise InputError(source, "", f"not JSON ({error})") from None
    keys = doc.get("keys") if isinstance(doc, dict) else None
    if not isinstance(keys, list) or not keys:
        raise InputError(source, "keys", "must be a non-empty list of JWKs")
    for n, jwk in enumerate(keys):
        if not isinstance(jwk, dict) or jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
            raise InputError(source, f"keys[{n}]", "not an EC P-256 public key")
    try:
        return KeySet.import_key_set({"keys": keys})
    except (JoseError, ValueError, TypeError) as error:
        raise InputError(source, "keys", f"not usable ({error})") from None


def verify(
    token: str, keys: KeySet | ec.EllipticCurvePublicKey, *, now: float | None = None
) -> dict[str, Any]:
    """The claims of an ES256 JWT whose signature verifies and which has not expired."""
    key = ECKey.import_key(keys) if isinstance(keys, ec.EllipticCurvePublicKey) else keys
    if token.count(".") != 2:
        raise VerificationFailed(f"{_WHAT}: not a JWS compact serialisation (three parts)")
    try:
        decoded = jwt.decode(token.strip(), key, algorithms=[ALGORITHM])
    except JoseError as error:
        raise VerificationFailed(f"{_WHAT}: {_why(error)}") from None
    except ValueError as error:  # malformed base64 / JSON inside the parts
        raise VerificationFailed(f"{_WHAT}: parts are not base64url JSON ({error})") from None
    claims = decoded.claims
    if not isinstance(claims, dict):
        raise VerificationFailed(f"{_WHAT}: payload is not a JSON object")
    at = int(time.time() if now is None else now)
    # iat is checked when present (not in the future); EAR itself requires it (result.parse)
    registry = jwt.JWTClaimsRegistry(now=at, exp={"essential": True})
    try:
        registry.validate(claims)
    except JoseError as error:
        raise VerificationFailed(f"{_WHAT}: {_why(error)}") from None
    return claims


def _why(error: JoseError) -> str:
    text = error.description or error.error
    return {
        "bad_signature": "signature does not verify with the published key",
        "expired_token": "expired (exp is in the past)",
    }.get(error.error, text)
