from __future__ import annotations

import datetime as dt
from pathlib import Path

from elsewhere.claims import EMULATED_WARNING, NIL_WARNING, Claims, Failure, Tee
from elsewhere.policy.advisories import parse_feed
from elsewhere.policy.evaluate import Decision, compile_policy, evaluate
from elsewhere.policy.load import load_policy
from elsewhere.policy.model import Policy
from policy_support import AT, intel, nil, policy, result, snp

ROOT = Path(__file__).resolve().parent.parent
REFUSE_MILAN = load_policy(ROOT / "examples" / "policy" / "refuse-milan.toml")
FEED = parse_feed((ROOT / "examples" / "advisories" / "example-feed.json").read_bytes())


def _rules(decision: Decision) -> list[str]:
    return [r.rule for r in decision.reasons]


def test_refuse_milan_accept_genoa_turin_intel() -> None:
    milan = evaluate(result(snp("Milan")), REFUSE_MILAN, at=AT)
    assert not milan.accepted
    assert _rules(milan) == ["platforms.refuse", "platforms.accept"]
    assert (
        str(milan.reasons[0]) == "platforms.refuse: platform is AMD:Milan, required not AMD:Milan"
    )
    assert evaluate(result(snp("Genoa")), REFUSE_MILAN, at=AT).accepted
    turin_tcb = {"fmc": 1, "bootloader": 1, "tee": 1, "snp": 8, "microcode": 81}
    assert evaluate(result(snp("Turin", tcb=turin_tcb)), REFUSE_MILAN, at=AT).accepted
    assert evaluate(result(intel()), REFUSE_MILAN, at=AT).accepted
    assert evaluate(result(intel(Tee.TDX)), REFUSE_MILAN, at=AT).accepted
    # a stepping name still matches its generation
    assert not evaluate(result(snp("Milan-B0")), REFUSE_MILAN, at=AT).accepted


def test_unknown_generation_is_not_accepted_by_a_generation_rule() -> None:
    decision = evaluate(result(snp(None)), REFUSE_MILAN, at=AT)
    assert _rules(decision) == ["platforms.accept"]
    assert decision.reasons[0].found == "AMD:unknown generation"


def test_minimum_tcb_per_component_and_generation() -> None:
    p = policy("[tcb.sev-snp]\nsnp = 8\n[tcb.sev-snp.Genoa]\nmicrocode = 85\nbootloader = 10\n")
    decision = evaluate(snp("Genoa"), p, at=AT)
    assert [(r.rule, r.claim, r.found, r.required) for r in decision.reasons] == [
        ("tcb.sev-snp.Genoa.microcode", "tcb.microcode", "84", ">= 85")
    ]
    # the Genoa minimum does not apply to Milan; the all-generation one does
    low = snp("Milan", tcb={"bootloader": 3, "tee": 0, "snp": 7, "microcode": 20})
    assert _rules(evaluate(low, p, at=AT)) == ["tcb.sev-snp.snp"]
    # a component the evidence lacks fails rather than passing silently
    missing = evaluate(snp("Genoa", tcb={"snp": 9, "bootloader": 10}), p, at=AT)
    assert [(r.claim, r.found) for r in missing.reasons] == [("tcb.microcode", "absent")]


def test_minimum_tcb_intel_components() -> None:
    p = policy("[tcb.sgx]\npcesvn = 14\nsgx_comp_00 = 11\n[tcb.tdx]\ntdx_comp_00 = 4\n")
    assert _rules(evaluate(intel(Tee.SGX), p, at=AT)) == ["tcb.sgx.pcesvn"]
    assert _rules(evaluate(intel(Tee.TDX), p, at=AT)) == ["tcb.tdx.tdx_comp_00"]


def test_intel_tcb_status() -> None:
    stale = intel(tcb_status="SWHardeningNeeded")
    assert _rules(evaluate(stale, policy(), at=AT)) == ["intel.tcb_status"]
    relaxed = policy('[intel]\ntcb_status = ["UpToDate", "SWHardeningNeeded"]\n')
    assert evaluate(stale, relaxed, at=AT).accepted
    assert evaluate(intel(tcb_status=None), relaxed, at=AT).reasons[0].found == "absent"
    assert evaluate(snp(), relaxed, at=AT).accepted  # AMD has no Intel TCB status


def test_advisory_refused_by_id_and_by_severity() -> None:
    claims = intel(tcb_status="SWHardeningNeeded", advisory_ids=("INTEL-SA-00615",))
    base = '[intel]\ntcb_status = ["SWHardeningNeeded"]\n'
    assert evaluate(claims, policy(base), at=AT, advisories=FEED).accepted
    refused = evaluate(claims, policy(base + '[advisories]\nrefuse = ["INTEL-SA-00615"]\n'), at=AT)
    assert [(r.rule, r.found) for r in refused.reasons] == [("advisories.refuse", "INTEL-SA-00615")]
    medium = policy(base + '[advisories]\nseverity_threshold = "medium"\n')
    by_severity = evaluate(claims, medium, at=AT, advisories=FEED)
    assert by_severity.reasons[0].found == "INTEL-SA-00615 (severity medium)"
    assert by_severity.reasons[0].severity == "medium"
    allowed = policy(
        base + '[advisories]\nseverity_threshold = "medium"\nallow = ["INTEL-SA-00615"]\n'
    )
    assert evaluate(claims, allowed, at=AT, advisories=FEED).accepted


def test_unknown_advisory_takes_the_policy_severity() -> None:
    claims = intel(advisory_ids=("INTEL-SA-09999",))
    p = policy('[advisories]\nseverity_threshold = "high"\n')
    decision = evaluate(claims, p, at=AT, advisories=FEED)
    assert decision.reasons[0].found == "INTEL-SA-09999 (severity unknown, taken as high)"
    lenient = policy('[advisories]\nseverity_threshold = "high"\nunknown_severity = "low"\n')
    assert evaluate(claims, lenient, at=AT, advisories=FEED).accepted


def test_amd_bulletin_matches_generation_and_tcb_below_fix() -> None:
    p = policy('[advisories]\nseverity_threshold = "high"\n')
    old_milan = snp("Milan", tcb={"bootloader": 3, "tee": 0, "snp": 8, "microcode": 115})
    decision = evaluate(old_milan, p, at=AT, advisories=FEED)
    assert decision.advisories == ("AMD-SB-3005", "AMD-SB-3019", "AMD-SB-7014")
    assert [r.found for r in decision.reasons] == [
        "AMD-SB-3019 (severity high)",
        "AMD-SB-7014 (severity high)",
    ]  # AMD-SB-3005 is medium: below the threshold, listed but not refused
    new_milan = snp("Milan", tcb={"bootloader": 4, "tee": 0, "snp": 24, "microcode": 219})
    assert evaluate(new_milan, p, at=AT, advisories=FEED).accepted
    assert evaluate(snp("Genoa"), p, at=AT, advisories=FEED).advisories == ()


def test_debug_emulated_nil_refused_unless_allowed() -> None:
    decision = evaluate(snp(debug=True, emulated=True), policy(), at=AT)
    assert _rules(decision) == ["tee.allow_emulated", "tee.allow_debug"]
    assert decision.protection == EMULATED_WARNING
    allowing = policy("[tee]\nallow_debug = true\nallow_emulated = true\n")
    assert evaluate(snp(debug=True, emulated=True), allowing, at=AT).accepted
    refused_nil = evaluate(nil(), policy(), at=AT)
    assert _rules(refused_nil) == ["tee.accept"] and refused_nil.protection == NIL_WARNING
    nil_ok = policy('[tee]\naccept = ["nil"]\n[platforms]\naccept = ["AMD:Genoa"]\n')
    assert evaluate(nil(), nil_ok, at=AT).accepted
    assert _rules(evaluate(snp(), nil_ok, at=AT)) == ["tee.accept"]


def test_flags_required_and_forbidden_values_per_tee() -> None:
    p = policy(
        "[flags.sev-snp]\nsmt = false\nmigrate_ma = false\nciphertext_hiding = true\n"
        "[flags.tdx]\nsept_ve_disable = true\n"
    )
    assert [(r.rule, r.found, r.required) for r in evaluate(snp(), p, at=AT).reasons] == [
        ("flags.sev-snp.ciphertext_hiding", "absent", "true"),
        ("flags.sev-snp.smt", "true", "false"),
    ]
    ok = snp(smt=False, flags={"migrate_ma": False, "ciphertext_hiding": True})
    assert evaluate(ok, p, at=AT).accepted
    # SNP flags do not apply to an SGX enclave; the TDX flag applies to a TD only
    assert evaluate(intel(Tee.SGX), p, at=AT).accepted
    td = evaluate(intel(Tee.TDX, flags={"sept_ve_disable": False}), p, at=AT)
    assert [(r.rule, r.found) for r in td.reasons] == [("flags.tdx.sept_ve_disable", "false")]


def test_reference_values() -> None:
    p = policy(
        f'[measurements.sev-snp]\nmeasurement = ["{"11" * 48}"]\n'
        f'[measurements.sgx]\nmrenclave = ["{"44" * 32}"]\nmrsigner = ["{"81" * 32}"]\n'
        "[identity.sev-snp]\nvmpl = [0]\n"
    )
    assert evaluate(snp(), p, at=AT).accepted
    assert _rules(evaluate(snp(identity={"vmpl": 1}), p, at=AT)) == ["identity.sev-snp.vmpl"]
    assert _rules(evaluate(intel(), p, at=AT)) == ["measurements.sgx.mrenclave"]
    assert evaluate(intel(Tee.TDX), p, at=AT).accepted  # no TDX reference values listed


def test_identity_minimums() -> None:
    p = policy("[identity_min.sev-snp]\nguest_svn = 2\n[identity_min.sgx]\nisvsvn = 1\n")
    assert [(r.rule, r.found, r.required) for r in evaluate(snp(), p, at=AT).reasons] == [
        ("identity_min.sev-snp.guest_svn", "1", ">= 2")
    ]
    assert evaluate(snp(identity={"guest_svn": 2}), p, at=AT).accepted
    assert evaluate(intel(identity={}), p, at=AT).reasons[0].found == "absent"
    assert (
        evaluate(intel(identity={"isvsvn": "1"}), p, at=AT).reasons[0].found == "1"
    )  # not a number
    assert evaluate(intel(identity={"isvsvn": 3}), p, at=AT).accepted


def test_report_data_binding() -> None:
    p = policy("[binding]\nrequire_report_data = true\n")
    claims = snp(report_data="ab" * 32 + "00" * 32)
    assert _rules(evaluate(claims, p, at=AT)) == ["binding.require_report_data"]
    assert evaluate(claims, p, at=AT, expected_report_data="AB" * 32).accepted  # zero-padded
    wrong = evaluate(claims, p, at=AT, expected_report_data="cd" * 32)
    assert _rules(wrong) == ["binding"]
    # supplied but not required: still compared
    assert not evaluate(claims, policy(), at=AT, expected_report_data="cd" * 32).accepted


def test_evidence_age() -> None:
    p = policy('[freshness]\nmax_age = "1h"\n')
    verified = result(snp(), at=AT - dt.timedelta(minutes=30))
    assert evaluate(verified, p, at=AT).accepted
    decision = evaluate(verified, p, at=AT + dt.timedelta(hours=1))
    assert [(r.rule, r.found) for r in decision.reasons] == [("freshness.max_age", "1:30:00")]
    assert evaluate(snp(), p, at=AT).reasons[0].found == "unknown"  # bare claims, no time
    assert evaluate(snp(), p, at=AT, evidence_time=AT).accepted


def test_unverified_evidence_refused_with_its_failures_and_every_rule() -> None:
    bad = result(snp("Milan", debug=True), Failure("report signature", "does not verify", "valid"))
    decision = evaluate(bad, REFUSE_MILAN, at=AT)
    assert not decision.accepted
    assert _rules(decision) == [
        "verification",
        "tee.allow_debug",
        "platforms.refuse",
        "platforms.accept",
    ]
    assert decision.reasons[0].claim == "report signature"


def test_decision_json_and_digest() -> None:
    decision = evaluate(result(snp("Milan")), REFUSE_MILAN, at=AT)
    doc = decision.to_json()
    assert doc["accepted"] is False
    assert doc["policy"] == {
        "digest": REFUSE_MILAN.digest,
        "name": "refuse-milan",
        "revision": "2026-11-26.1",
    }
    assert doc["reasons"][0] == {
        "rule": "platforms.refuse",
        "claim": "platform",
        "found": "AMD:Milan",
        "required": "not AMD:Milan",
    }
    assert doc["evaluated_at"] == "2026-11-26T12:00:00Z"


def test_compiled_evaluator_is_deterministic_and_cached() -> None:
    evaluator = compile_policy(REFUSE_MILAN, FEED)
    assert compile_policy(REFUSE_MILAN, FEED) is evaluator
    first = evaluator.evaluate(result(snp("Milan")), at=AT)
    assert all(evaluator.evaluate(result(snp("Milan")), at=AT) == first for _ in range(3))


def test_keep_key_suites_checked_where_a_keep_key_is_presented() -> None:
    p = policy('[binding]\nkeep_key_suites = ["mlkem768-x25519"]\n')
    claims = snp()
    weak = evaluate_suite(p, claims, "x25519")
    assert _rules(weak) == ["binding.keep_key_suites"]
    assert "x25519" in str(weak.reasons[0]) and "mlkem768-x25519" in str(weak.reasons[0])
    assert evaluate_suite(p, claims, "mlkem768-x25519").accepted
    assert evaluate(claims, p, at=AT).accepted  # no keep key (offline evaluation): not checked
    running = compile_policy(p).evaluate(claims, at=AT, admission=False, keep_key_suite="x25519")
    assert running.accepted  # a re-check of a running keep: its key was checked at admission
    assert evaluate_suite(policy(), claims, "x25519").accepted  # no rule: any suite


def evaluate_suite(p: Policy, claims: Claims, suite: str) -> Decision:
    return compile_policy(p).evaluate(claims, at=AT, keep_key_suite=suite)
