"""Policy evaluations per second on one core, against the 100,000/s target.

A realistic policy (examples/policy/refuse-milan.toml plus reference values, flags, binding and
a severity threshold) with the example advisory feed, over a mix of claims shaped like the real
vectors (Milan, Genoa, Turin, SGX, TDX; accepted and refused). For comparison the same run
measures the floor: a bare Python function call and a dict look-up, per second, in a loop of
the same shape. Last line: one JSON object.
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
import time
from pathlib import Path

from elsewhere.claims import Claims, Tee, Vendor, VerificationResult
from elsewhere.policy.advisories import parse_feed
from elsewhere.policy.evaluate import compile_policy
from elsewhere.policy.load import parse_policy

ROOT = Path(__file__).resolve().parent.parent
TARGET = 100_000
ROUNDS = 5
PER_ROUND = 40_000
AT = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)

POLICY_TEXT = (ROOT / "examples" / "policy" / "refuse-milan.toml").read_text() + (
    """
[flags.sev-snp]
migrate_ma = false

[flags.tdx]
sept_ve_disable = true

[identity.sev-snp]
vmpl = [0]

[measurements.sgx]
mrsigner = ["{signer}"]

[binding]
require_report_data = true
""".replace("{signer}", "81" * 32)
)


def _snp(generation: str, tcb: dict[str, int]) -> Claims:
    return Claims(
        vendor=Vendor.AMD,
        tee=Tee.SEV_SNP,
        generation=generation,
        report_version=3,
        signer="VCEK",
        debug=False,
        smt=True,
        report_data="ab" * 64,
        tcb=tcb,
        measurements={"measurement": "11" * 48},
        flags={"migrate_ma": False, "smt": True},
        identity={"vmpl": 0, "guest_svn": 0},
    )


def _intel(tee: Tee, status: str, advisories: tuple[str, ...]) -> Claims:
    return Claims(
        vendor=Vendor.INTEL,
        tee=tee,
        generation="Ice Lake-SP",
        report_version=3 if tee is Tee.SGX else 4,
        signer="PCK",
        debug=False,
        smt=None,
        report_data="ab" * 64,
        tcb={**{f"sgx_comp_{i:02d}": 3 for i in range(16)}, "pcesvn": 13},
        tcb_status=status,
        advisory_ids=advisories,
        measurements={"mrenclave": "33" * 32, "mrsigner": "81" * 32, "mrtd": "91" * 48},
        identity={"isvprodid": 0, "isvsvn": 0},
        flags={"sept_ve_disable": tee is Tee.TDX, "debug": False},
        fmspc="00606a000000",
    )


EVIDENCE = [
    VerificationResult(claims, (), AT, "bench")
    for claims in (
        _snp("Milan", {"bootloader": 3, "tee": 0, "snp": 8, "microcode": 115}),
        _snp("Genoa", {"bootloader": 10, "tee": 0, "snp": 23, "microcode": 84}),
        _snp("Turin", {"fmc": 1, "bootloader": 1, "tee": 1, "snp": 4, "microcode": 81}),
        _intel(Tee.SGX, "SWHardeningNeeded", ("INTEL-SA-00615",)),
        _intel(Tee.TDX, "UpToDate", ()),
        _intel(Tee.SGX, "OutOfDate", ("INTEL-SA-00289", "INTEL-SA-00615", "INTEL-SA-00828")),
    )
]


def _rate(body: object, n: int) -> float:
    start = time.perf_counter()
    body(n)  # type: ignore[operator]
    return n / (time.perf_counter() - start)


def main() -> None:
    policy = parse_policy(POLICY_TEXT, "bench")
    feed = parse_feed((ROOT / "examples" / "advisories" / "example-feed.json").read_bytes())
    evaluator = compile_policy(policy, feed)
    expected = "ab" * 64
    evaluate = evaluator.evaluate
    items = [EVIDENCE[i % len(EVIDENCE)] for i in range(PER_ROUND)]
    accepted = sum(evaluate(e, at=AT, expected_report_data=expected).accepted for e in EVIDENCE)

    def run_policy(n: int) -> None:
        for evidence in items[:n]:
            evaluate(evidence, at=AT, expected_report_data=expected)

    def nothing(evidence: object, *, at: object, expected_report_data: object) -> None:
        return None

    def run_call(n: int) -> None:
        for evidence in items[:n]:
            nothing(evidence, at=AT, expected_report_data=expected)

    table = {id(e): e for e in EVIDENCE}

    def run_dict(n: int) -> None:
        for evidence in items[:n]:
            table.get(id(evidence))

    run_policy(2_000)  # warm the memo tables and caches
    policy_rates, call_rates, dict_rates = [], [], []
    for _ in range(ROUNDS):  # interleaved, so that load on the machine hits all three alike
        policy_rates.append(_rate(run_policy, PER_ROUND))
        call_rates.append(_rate(run_call, PER_ROUND))
        dict_rates.append(_rate(run_dict, PER_ROUND))
    evals = statistics.median(policy_rates)
    calls = statistics.median(call_rates)
    lookups = statistics.median(dict_rates)
    print(f"policy: {policy.name} revision {policy.revision}, {len(feed)} advisories")
    refused = len(EVIDENCE) - accepted
    print(f"evidence mix: {len(EVIDENCE)} kinds, {accepted} accepted, {refused} refused")
    print(f"policy evaluations/s (median of {ROUNDS} x {PER_ROUND}): {evals:,.0f}")
    print(f"floor: empty function call/s {calls:,.0f}; dict look-up/s {lookups:,.0f}")
    print(f"one evaluation costs {calls / evals:.1f} empty calls; target {TARGET:,}/s")
    print(
        json.dumps(
            {
                "benchmark": "policy_evaluate",
                "evaluations_per_s": round(evals),
                "target_per_s": TARGET,
                "ratio_to_target": round(evals / TARGET, 2),
                "floor_empty_call_per_s": round(calls),
                "floor_dict_lookup_per_s": round(lookups),
                "evaluation_cost_in_empty_calls": round(calls / evals, 1),
                "cores": 1,
            }
        )
    )


if __name__ == "__main__":
    main()
