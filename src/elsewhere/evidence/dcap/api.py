"""The DCAP branch of `elsewhere.evidence.verify_evidence`: options → collateral → verdict."""

from __future__ import annotations

import contextlib
import datetime as dt

from elsewhere.claims import VerificationResult
from elsewhere.errors import InputError, ParseError
from elsewhere.evidence.anchors import is_untrusted_emulated
from elsewhere.evidence.api import EvidenceOptions
from elsewhere.evidence.dcap import cache
from elsewhere.evidence.dcap.collateral import Collateral
from elsewhere.evidence.dcap.pck import parse_pck_extensions
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
    ext = pck.ext
    emulated = bool(pck.problem and is_untrusted_emulated(pck.problem))
    if ext is None and emulated:
        # Only to find the bundle: verify_quote then refuses the untrusted root, naming it.
        with contextlib.suppress(ParseError):
            ext = parse_pck_extensions(pck.chain.certs[0])
    if ext is None:
        raise InputError("collateral", "--collateral", f"none given and {pck.problem}")
    tee = "tdx" if quote.is_tdx else "sgx"
    found = cache.lookup(tee, ext.fmspc, ext.ca, at)
    if found is None:
        hint = "run 'elsewhere collateral import PATH'"
        if emulated or pck.chain.root == "emulated":
            hint = (
                "an emulated platform: 'elsewhere emulate tdx-collateral DIR -o FILE', then "
                "'elsewhere collateral import FILE --trust-emulated-root DIR/root.pem'"
            )
        raise InputError(
            "collateral",
            "--collateral",
            f"none given and no cached bundle for {tee} FMSPC {ext.fmspc.hex()} "
            f"({ext.ca} CA) current at {at:%Y-%m-%dT%H:%M:%SZ}; {hint}",
        )
    return found
