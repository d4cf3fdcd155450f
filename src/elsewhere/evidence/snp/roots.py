"""AMD root keys (ARK), pinned by the SHA-256 fingerprint of their DER certificate.

The fingerprints are constants here, computed once from AMD's published ARK certificates
(also embedded in virtee/sev and microsoft/TEE-Attestation-Verification); nothing is read
from disk or network at run time. The rest of each chain (ASK/ASVK, VCEK/VLEK) comes from the
evidence or the caller and must verify up to one of these roots — or to an emulated root the
caller trusts explicitly, in which case the result is marked emulated.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from elsewhere.evidence.anchors import TrustAnchor

# SHA-256 of the DER encoding of each AMD Root Key certificate (RSA-4096, RSASSA-PSS).
AMD_ARK_FINGERPRINTS: Mapping[str, str] = MappingProxyType(
    {
        # CN=ARK-Milan, valid 2020-10-22 .. 2045-10-22
        "69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd": "Milan",
        # CN=ARK-Genoa, valid 2022-01-26 .. 2047-01-26
        "4c6598d19c18719c5dfd4a7d335f674e5bfe1d8f800cea2cf270c10d103db2f1": "Genoa",
        # CN=ARK-Turin, valid 2023-05-15 .. 2048-05-15
        "1f084161a44bb6d93778a904877d4819cafa5d05ef4193b2ded9dd9c73dd3f6a": "Turin",
    }
)


@dataclass(frozen=True)
class RootMatch:
    """Which trusted root a certificate is: AMD's pinned ARK for a product, or an emulated root."""

    name: str
    generation: str | None
    emulated: bool


def match_root(der: bytes, emulated_roots: Iterable[TrustAnchor] = ()) -> RootMatch | None:
    """The trusted root this DER certificate is, or None if it is neither pinned nor trusted."""
    fingerprint = hashlib.sha256(der).hexdigest()
    generation = AMD_ARK_FINGERPRINTS.get(fingerprint)
    if generation is not None:
        return RootMatch(f"AMD ARK-{generation}", generation, emulated=False)
    for anchor in emulated_roots:
        if anchor.fingerprint == fingerprint and anchor.der == der:
            return RootMatch(anchor.name, None, emulated=True)
    return None
