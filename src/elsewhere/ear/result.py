"""EAR claims sets (draft-ietf-rats-ear-04, JSON/JWT serialisation): build one, read one.

Top level: `eat_profile`, `iat`, `exp`, `ear_verifier_id` {developer, build}, `ear_status`
(the worst submodule's), `eat_nonce` (base64url, RFC 9711 §4.1 for JSON), `submods`. One
submodule, "keep", per decision: `ear_status`, `ear_trustworthiness_vector`,
`ear_appraisal_policy_ids` (the tenant policy's digest) and our own claims under
`ear_elsewhere` (the draft's extension naming, as `ear_veraison_*`). docs/claims.md lists them.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from elsewhere import __version__
from elsewhere.ear.appraisal import Appraisal, LedgerRef, status, trustworthiness_vector
from elsewhere.ear.ar4si import CLAIMS, Tier, worst
from elsewhere.errors import InputError

PROFILE = "tag:ietf.org,2026:rats/ear#04"
SUBMOD = "keep"
EXTENSION = "ear_elsewhere"
DEVELOPER = "https://elsewhere.dev"
_WHAT = "EAR claims set"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def build(
    appraisal: Appraisal, *, issuer: str, issued_at: int, expires_at: int, token_id: str
) -> dict[str, Any]:
    """The claims set for one decision (JSON-ready; the JWS layer signs it)."""
    claims = appraisal.result.claims
    vector = trustworthiness_vector(appraisal)
    tier = status(appraisal, vector)
    ours: dict[str, Any] = {
        "tee": claims.tee.value,
        "vendor": claims.vendor.value,
        "generation": claims.generation,
        "tcb_status": claims.tcb_status,
        "tcb": dict(claims.tcb),
        "emulated": claims.emulated,
        "protection": appraisal.result.protection,
        "workload_digest": appraisal.workload_digest,
        "keep_key_digest": appraisal.keep_key_digest,
        "keep_key_suite": appraisal.keep_key_suite,
        "policy_digest": appraisal.policy_digest,
        "reasons": list(appraisal.reasons),
    }
    for name in ("placement", "deployment", "host"):
        if getattr(appraisal, name) is not None:
            ours[name] = getattr(appraisal, name)
    if appraisal.ledger is not None:
        ours["ledger"] = appraisal.ledger.to_json()
    submod: dict[str, Any] = {
        "ear_status": tier.value,
        "ear_appraisal_policy_ids": [appraisal.policy_digest],
        EXTENSION: ours,
    }
    if vector:  # the draft: a non-empty map, or absent
        submod["ear_trustworthiness_vector"] = vector
    return {
        "eat_profile": PROFILE,
        "iss": issuer,
        "iat": issued_at,
        "exp": expires_at,
        "jti": token_id,
        "ear_verifier_id": {"developer": DEVELOPER, "build": f"elsewhere {__version__}"},
        "ear_status": tier.value,
        "eat_nonce": b64url(appraisal.nonce),
        "submods": {SUBMOD: submod},
    }


def logged(claims: Mapping[str, Any], ledger: LedgerRef) -> dict[str, Any]:
    """`claims` (from `build`) naming where the decision was logged: a copy with
    `submods.keep.ear_elsewhere.ledger` replaced (the rest is shared, not copied)."""
    keep = claims["submods"][SUBMOD]
    ours = keep[EXTENSION] | {"ledger": ledger.to_json()}
    return dict(claims) | {"submods": claims["submods"] | {SUBMOD: keep | {EXTENSION: ours}}}


@dataclass(frozen=True)
class Submod:
    name: str
    status: Tier
    vector: Mapping[str, int]
    policy_ids: tuple[str, ...]
    extension: Mapping[str, Any]  # ear_elsewhere, or empty for another verifier's result


@dataclass(frozen=True)
class EarResult:
    """A checked EAR claims set (shape only: the signature and `exp` are the JWS layer's)."""

    profile: str
    issued_at: int
    expires_at: int | None
    developer: str
    build: str
    status: Tier
    nonce: str | None
    submods: tuple[Submod, ...]
    claims: Mapping[str, Any]

    def submod(self, name: str = SUBMOD) -> Submod:
        for sub in self.submods:
            if sub.name == name:
                return sub
        raise InputError(_WHAT, f"submods.{name}", "absent")


def _int(doc: Mapping[str, Any], key: str, where: str) -> int:
    value = doc.get(key)
    # The draft: a floating-point iat/exp is an error (bool is an int in Python: refused too).
    if type(value) is not int:
        raise InputError(_WHAT, f"{where}{key}", "must be an integer (NumericDate)")
    return value


def _status(value: object, where: str) -> Tier:
    if isinstance(value, str) and value in {t.value for t in Tier}:
        return Tier(value)
    raise InputError(
        _WHAT, where, f"{value!r} is not one of none, affirming, warning, contraindicated"
    )


def _submod(name: str, doc: object) -> Submod:
    where = f"submods.{name}"
    if not isinstance(doc, Mapping):
        raise InputError(_WHAT, where, "must be an object")
    vector = doc.get("ear_trustworthiness_vector", {})
    if not isinstance(vector, Mapping) or ("ear_trustworthiness_vector" in doc and not vector):
        raise InputError(_WHAT, f"{where}.ear_trustworthiness_vector", "must be a non-empty map")
    for claim, value in vector.items():
        if claim not in CLAIMS:
            raise InputError(_WHAT, f"{where}.ear_trustworthiness_vector", f"unknown {claim!r}")
        if type(value) is not int or not -128 <= value <= 127:
            raise InputError(
                _WHAT, f"{where}.ear_trustworthiness_vector.{claim}", "must be -128..127"
            )
    ids = doc.get("ear_appraisal_policy_ids", [])
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise InputError(_WHAT, f"{where}.ear_appraisal_policy_ids", "must be a list of text")
    extension = doc.get(EXTENSION, {})
    if not isinstance(extension, Mapping):
        raise InputError(_WHAT, f"{where}.{EXTENSION}", "must be an object")
    return Submod(
        name=name,
        status=_status(doc.get("ear_status"), f"{where}.ear_status"),
        vector=MappingProxyType(dict(vector)),
        policy_ids=tuple(ids),
        extension=MappingProxyType(dict(extension)),
    )


def parse(doc: object) -> EarResult:
    """Check a claims set against the draft's JSON shape; one InputError line if it is not."""
    if not isinstance(doc, Mapping):
        raise InputError(_WHAT, "", "must be a JSON object")
    if not isinstance(doc.get("eat_profile"), str):
        raise InputError(_WHAT, "eat_profile", "absent or not text")
    verifier = doc.get("ear_verifier_id")
    if not (
        isinstance(verifier, Mapping)
        and isinstance(verifier.get("developer"), str)
        and isinstance(verifier.get("build"), str)
    ):
        raise InputError(_WHAT, "ear_verifier_id", "must be {developer: text, build: text}")
    submods = doc.get("submods")
    if not isinstance(submods, Mapping) or not submods:
        raise InputError(_WHAT, "submods", "must be a non-empty object")
    subs = tuple(_submod(str(name), sub) for name, sub in submods.items())
    nonce = doc.get("eat_nonce")
    if nonce is not None and not isinstance(nonce, str):
        raise InputError(_WHAT, "eat_nonce", "must be base64url text")
    overall = (
        _status(doc["ear_status"], "ear_status")
        if "ear_status" in doc
        else worst([s.status for s in subs])
    )
    return EarResult(
        profile=doc["eat_profile"],
        issued_at=_int(doc, "iat", ""),
        expires_at=_int(doc, "exp", "") if "exp" in doc else None,
        developer=verifier["developer"],
        build=verifier["build"],
        status=overall,
        nonce=nonce,
        submods=subs,
        claims=MappingProxyType(dict(doc)),
    )
