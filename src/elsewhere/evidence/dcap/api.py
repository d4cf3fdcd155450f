"""The DCAP branch of `elsewhere.evidence.verify_evidence`: options → collateral → verdict."""

from __future__ import annotations

import datetime as dt

from elsewhere.claims import VerificationResult
from elsewhere.errors import InputError
from elsewhere.evidence.api import EvidenceOptions
from elsewhere.evidence.dcap import cache
from elsewhere.evidence.dcap.collateral import Collateral
from elsewhere.evidence.dcap.quote import parse_quote
from elsewhere.evidence.dcap.verify import pck_state, verify_quote
from elsewhere.evidence.detect import Detected


def emulated_fingerprints(options: EvidenceOptions) -> frozenset[bytes]:
    """SHA-256 fingerprints of the emulated roots the caller explicitly trusts."""
    return frozenset(
        bytes.fromhex(anchor.fingerprint)
        for anchor in options.trusted_emulated_roots
        if anchor.emulated
    )


def verify_dcap_evidence(detected: Detected, options: EvidenceOptions) -> VerificationResult:
    """Verify with `options.collateral`, or with the cached bundle for the quote's platform."""
    at = options.verification_time()
    roots = emulated_fingerprints(options)
    collateral = options.collateral
    if collateral is None:
        collateral = _from_cache(detected.data, roots, at)
    if not isinstance(collateral, Collateral):
        raise InputError("collateral", "options", "is not DCAP collateral (see load_collateral)")
    return verify_quote(detected.data, collateral, at, roots)


def _from_cache(data: bytes, roots: frozenset[bytes], at: dt.datetime) -> Collateral:
    quote = parse_quote(data)
    pck = pck_state(quote.pck_chain_pem, roots)
    if pck.ext is None:
        raise InputError("collateral", "--collateral", f"none given and {pck.problem}")
    tee = "tdx" if quote.is_tdx else "sgx"
    found = cache.lookup(tee, pck.ext.fmspc, pck.ext.ca, at)
    if found is None:
        raise InputError(
            "collateral",
            "--collateral",
            f"none given and no cached bundle for {tee} FMSPC {pck.ext.fmspc.hex()} "
            f"({pck.ext.ca} CA) current at {at:%Y-%m-%dT%H:%M:%SZ}; "
            "run 'elsewhere collateral import PATH'",
        )
    return found
