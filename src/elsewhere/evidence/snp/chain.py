"""VCEK/VLEK -> ASK/ASVK -> ARK: build and check the chain once per VEK, then reuse it.

Everything here depends only on certificate bytes and the trusted emulated roots, so the
result is cached per (VEK DER, other certificates, emulated roots): verifying many reports
from one platform costs one chain check. Certificate validity depends on the time and is
left to the caller as `windows`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from functools import lru_cache

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import SignatureAlgorithmOID

from elsewhere.claims import Failure
from elsewhere.evidence.anchors import TrustAnchor, load_der, untrusted_emulated_problem
from elsewhere.evidence.snp.certs import (
    VekInfo,
    common_name,
    envelope_problems,
    parse_certificate,
    vek_info_der,
)
from elsewhere.evidence.snp.roots import RootMatch, match_root

AMD_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48)
ROOT_EXPECTED = "a pinned AMD ARK (Milan, Genoa or Turin) or an explicitly trusted emulated root"


@dataclass(frozen=True)
class Window:
    label: str
    not_before: dt.datetime
    not_after: dt.datetime


@dataclass(frozen=True)
class ChainContext:
    """The VEK's key and extensions plus every time-independent chain failure."""

    vek: VekInfo
    public_key: ec.EllipticCurvePublicKey
    failures: tuple[Failure, ...]
    windows: tuple[Window, ...]
    root: RootMatch | None
    generation: str | None


def signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Whether `issuer`'s RSA key made `cert`'s signature with AMD's scheme exactly:
    RSASSA-PSS, SHA-384, MGF1-SHA-384, salt 48 — whatever parameters the certificate states."""
    key = issuer.public_key()
    if cert.signature_algorithm_oid != SignatureAlgorithmOID.RSASSA_PSS:
        return False
    if not isinstance(key, rsa.RSAPublicKey):
        return False
    try:
        key.verify(cert.signature, cert.tbs_certificate_bytes, AMD_PSS, hashes.SHA384())
    except (InvalidSignature, UnsupportedAlgorithm, ValueError, TypeError):
        return False
    return True


def _window(label: str, cert: x509.Certificate) -> Window:
    return Window(label, cert.not_valid_before_utc, cert.not_valid_after_utc)


def _issuer_of(
    cert: x509.Certificate, pool: tuple[x509.Certificate, ...]
) -> tuple[x509.Certificate | None, bool]:
    """(issuer, signature verified): a pool certificate named as `cert`'s issuer, preferring
    one whose key verifies the signature."""
    named = [c for c in pool if c.subject == cert.issuer and c is not cert]
    for candidate in named:
        if signed_by(cert, candidate):
            return candidate, True
    return (named[0] if named else None), False


@lru_cache(maxsize=256)
def chain_context(
    vek_der: bytes, others: tuple[bytes, ...], emulated_roots: tuple[TrustAnchor, ...]
) -> ChainContext:
    vek, vek_cert = vek_info_der(vek_der)
    pool_ders = tuple(der for der in dict.fromkeys(others) if der != vek_der)
    pool = tuple(load_der(der, "chain certificate") for der in pool_ders)
    failures: list[Failure] = [_envelope(vek.kind, problem) for problem in vek.envelope]
    windows = [_window(vek.kind, vek_cert)]
    ask_name = "ASVK" if vek.kind == "VLEK" else "ASK"
    issuer_cn = common_name(vek_cert.issuer) or vek_cert.issuer.rfc4514_string()
    root: RootMatch | None = None

    ask, ok = _issuer_of(vek_cert, pool)
    if ask is None:
        failures.append(
            Failure(
                f"{vek.kind} issuer",
                f"no certificate named {issuer_cn} among the {len(pool)} given",
                f"the {ask_name} that issued the {vek.kind} (--chain or certificate table)",
            )
        )
    elif not ok:
        failures.append(
            Failure(
                f"{vek.kind} signature",
                f"signature does not verify under {issuer_cn}",
                f"{vek.kind} signed by its {ask_name} (RSA-PSS SHA-384)",
            )
        )
    if ask is not None:
        failures.extend(_envelopes(ask_name, pool_ders[pool.index(ask)]))
        windows.append(_window(ask_name, ask))
        expected_prefix = "SEV-VLEK-" if vek.kind == "VLEK" else "SEV-"
        cn = common_name(ask.subject) or ""
        if not cn.startswith(expected_prefix) or (vek.kind == "VCEK" and "VLEK" in cn):
            failures.append(
                Failure(f"{ask_name} name", cn, f"{expected_prefix}<product> for a {vek.kind}")
            )
        ark, ok = _issuer_of(ask, pool)
        ark_cn = common_name(ask.issuer) or ask.issuer.rfc4514_string()
        if ark is None or ark is ask:
            failures.append(
                Failure(
                    "ARK",
                    f"no root certificate named {ark_cn} among the {len(pool)} given",
                    ROOT_EXPECTED,
                )
            )
        else:
            failures.extend(_envelopes("ARK", pool_ders[pool.index(ark)]))
            windows.append(_window("ARK", ark))
            if not ok:
                failures.append(
                    Failure(
                        f"{ask_name} signature",
                        f"signature does not verify under {ark_cn}",
                        f"{ask_name} signed by the ARK (RSA-PSS SHA-384)",
                    )
                )
            root = _check_root(ark, emulated_roots, failures)

    generation = vek.generation
    if root is not None and root.generation is not None:
        if generation is not None and generation != root.generation:
            failures.append(
                Failure(
                    "product",
                    f"{vek.kind} for {vek.product_name or generation}",
                    f"a {root.generation} {vek.kind} under ARK-{root.generation}",
                )
            )
        generation = root.generation
    return ChainContext(
        vek=vek,
        public_key=vek_cert.public_key(),  # type: ignore[arg-type]  # vek_info checked EC
        failures=tuple(failures),
        windows=tuple(windows),
        root=root,
        generation=generation,
    )


def _envelope(label: str, problem: str) -> Failure:
    return Failure(f"{label} certificate envelope", problem, "unsigned parts equal to the signed")


def _envelopes(label: str, der: bytes) -> list[Failure]:
    problems = envelope_problems(parse_certificate(der, f"{label} certificate"))
    return [_envelope(label, problem) for problem in problems]


def _check_root(
    ark: x509.Certificate, emulated_roots: tuple[TrustAnchor, ...], failures: list[Failure]
) -> RootMatch | None:
    der = ark.public_bytes(Encoding.DER)
    root = match_root(der, emulated_roots)
    if root is None:
        found = untrusted_emulated_problem(ark, der) or (
            f"{common_name(ark.subject)}, SHA-256 {hashlib.sha256(der).hexdigest()}, untrusted"
        )
        failures.append(Failure("ARK", found, ROOT_EXPECTED))
    elif ark.subject != ark.issuer or not signed_by(ark, ark):
        failures.append(Failure("ARK signature", "not a valid self-signed root", ROOT_EXPECTED))
    return root
