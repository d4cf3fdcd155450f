"""DCAP quotes verified per second on one core, beside dcap-qvl 0.7.0 and the physical floor.

Same quote, same collateral, same verification time, same run. Ours runs with its caches warm
(PCK chain by certificate bytes, collateral by digest); the floor is the two P-256 verifies
every quote needs (QE report by the PCK key, quote by the attestation key) with keys and DER
signatures prepared in advance. Verdicts are compared before timing. Last line: one JSON object.

Vectors come from $ELSEWHERE_VECTORS (default ../shared/vectors); without them the quote comes
from an emulated TDX platform and dcap-qvl is given its root.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from elsewhere.evidence.dcap.collateral import Collateral, load_collateral
from elsewhere.evidence.dcap.quote import parse_quote
from elsewhere.evidence.dcap.verify import pck_state, verify_quote

SECONDS = 3.0
ROOT = Path(__file__).resolve().parent.parent
VECTORS = Path(os.environ.get("ELSEWHERE_VECTORS", ROOT.parent / "shared" / "vectors"))
GCP = "tdx/automata-gcp-v4-00806f05"


def rates(
    fns: list[Callable[[], object]], seconds: float = SECONDS, rounds: int = 6
) -> list[float]:
    """Calls per second of each function, measured in interleaved rounds so that load from
    elsewhere on the machine falls on all of them alike."""
    counts, spent = [0] * len(fns), [0.0] * len(fns)
    for fn in fns:
        fn()
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            deadline = start + seconds / rounds
            while time.perf_counter() < deadline:
                for _ in range(25):
                    fn()
                counts[i] += 25
            spent[i] += time.perf_counter() - start
    return [count / elapsed for count, elapsed in zip(counts, spent, strict=True)]


def load_inputs() -> tuple[str, bytes, Collateral, str, dt.datetime, bytes | None]:
    """(label, quote, collateral, collateral JSON, time, custom root for dcap-qvl or None)."""
    if (VECTORS / GCP / "quote_v4_gcp.bin").is_file():
        path = VECTORS / GCP / "collateral_assembled.json"
        return (
            f"{GCP} (TDX v4, real)",
            (VECTORS / GCP / "quote_v4_gcp.bin").read_bytes(),
            load_collateral(path),
            path.read_text(),
            dt.datetime(2025, 6, 5, 3, 45, tzinfo=dt.UTC),
            None,
        )
    from elsewhere.evidence.dcap.emulate import EmulatedTdxPlatform

    platform = EmulatedTdxPlatform.create(tempfile.mkdtemp())
    collateral = platform.collateral()
    return (
        "emulated TDX v4 (vectors not found)",
        platform.attest(b"bench"),
        collateral,
        json.dumps(collateral.to_json()),
        dt.datetime.now(dt.UTC),
        platform.certs["root"],
    )


def main() -> int:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    label, quote, collateral, collateral_json, at, custom_root = load_inputs()
    roots = frozenset()
    if custom_root is not None:
        import hashlib

        roots = frozenset({hashlib.sha256(custom_root).digest()})

    def ours() -> tuple[str | None, tuple[str, ...]]:
        result = verify_quote(quote, collateral, at, roots)
        assert result.verified
        return result.claims.tcb_status, result.claims.advisory_ids

    import dcap_qvl

    peer_collateral = dcap_qvl.QuoteCollateralV3.from_json(collateral_json)
    now = int(at.timestamp())

    def peer() -> tuple[str, tuple[str, ...]]:
        if custom_root is None:
            report = dcap_qvl.verify(quote, peer_collateral, now)
        else:
            report = dcap_qvl.verify_with_root_ca(quote, peer_collateral, custom_root, now)
        return report.status, tuple(sorted(report.advisory_ids))

    verdict_ours, verdict_peer = ours(), peer()
    if verdict_ours != verdict_peer:
        print(f"verdicts differ: ours {verdict_ours}, dcap-qvl {verdict_peer}", file=sys.stderr)
        return 1

    parsed = parse_quote(quote)
    pck_key = pck_state(parsed.pck_chain_pem, roots).chain.certs[0].public_key()
    att_key = ec.EllipticCurvePublicKey.from_encoded_point(
        ec.SECP256R1(), b"\x04" + parsed.attestation_key
    )
    assert isinstance(pck_key, ec.EllipticCurvePublicKey)

    def der(sig: bytes) -> bytes:
        return encode_dss_signature(
            int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
        )

    qe_sig, quote_sig, ecdsa = (
        der(parsed.qe_report_signature),
        der(parsed.signature),
        ec.ECDSA(hashes.SHA256()),
    )

    def floor() -> None:
        pck_key.verify(qe_sig, parsed.qe_report.raw, ecdsa)
        att_key.verify(quote_sig, parsed.signed, ecdsa)

    ours_qps, peer_qps, floor_qps = rates([ours, peer, floor])
    print(f"quote: {label}; verdict {verdict_ours[0]} {list(verdict_ours[1])} (identical)")
    print(f"elsewhere  {ours_qps:9.0f} quotes/s  ({1e6 / ours_qps:6.1f} us/quote)")
    print(f"dcap-qvl   {peer_qps:9.0f} quotes/s  ({1e6 / peer_qps:6.1f} us/quote)")
    print(f"floor      {floor_qps:9.0f} quotes/s  (two P-256 verifies)")
    print(
        f"ratio vs dcap-qvl {ours_qps / peer_qps:.2f}x; share of floor {ours_qps / floor_qps:.2f}"
    )
    print(
        json.dumps(
            {
                "benchmark": "dcap_verify",
                "quote": label,
                "verdict": verdict_ours[0],
                "elsewhere_qps": round(ours_qps),
                "dcap_qvl_qps": round(peer_qps),
                "floor_qps": round(floor_qps),
                "ratio_vs_dcap_qvl": round(ours_qps / peer_qps, 2),
                "fraction_of_floor": round(ours_qps / floor_qps, 2),
                "verdicts_identical": True,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
