from __future__ import annotations

import dataclasses
import datetime as dt

from elsewhere.claims import Claims, Tee
from elsewhere.policy.advisories import AdvisorySet, parse_feed
from elsewhere.policy.model import Action
from elsewhere.policy.patching import PatchDecision, Placement, recheck
from policy_support import AT, intel, policy, snp
from policy_support import advisory_entry as _entry
from policy_support import feed_document as _feed

ADMITTED = AT - dt.timedelta(days=30)
OLD_POLICY = policy()


def _placement(pid: str, claims: Claims) -> Placement:
    return Placement(pid, f"host-{pid}", claims, OLD_POLICY.digest, ADMITTED)


RUNNING = (
    _placement("milan-old", snp("Milan", tcb={"microcode": 100})),
    _placement("milan-new", snp("Milan", tcb={"microcode": 250})),
    _placement("genoa", snp("Genoa")),
    _placement("sgx", intel(Tee.SGX, advisory_ids=("INTEL-SA-00615",))),
)


def _by_id(decisions: tuple[PatchDecision, ...]) -> dict[str, PatchDecision]:
    return {d.placement_id: d for d in decisions}


def test_unaffected_placements_are_not_returned() -> None:
    assert recheck(RUNNING, OLD_POLICY, at=AT) == ()


def test_new_policy_version_refusing_milan_drains_with_the_other_rule() -> None:
    new = policy('[platforms]\nrefuse = ["AMD:Milan"]\n[patching]\nother = "drain 6h"\n')
    decisions = _by_id(recheck(RUNNING, new, at=AT))
    assert set(decisions) == {"milan-old", "milan-new"}
    d = decisions["milan-old"]
    assert d.action is Action.DRAIN and d.deadline == AT + dt.timedelta(hours=6)
    assert d.reasons[0].rule == "platforms.refuse"
    assert d.policy_digest == new.digest and d.admitted_policy_digest == OLD_POLICY.digest


def test_new_advisory_acts_by_severity() -> None:
    feed = parse_feed(
        _feed(
            _entry(severity="critical"),  # AMD-SB-1: Milan below microcode 200
            _entry(id="INTEL-SA-00615", vendor="Intel", severity="medium", affected=[]),
        )
    )
    p = policy(
        '[advisories]\nseverity_threshold = "medium"\n'
        '[patching]\ncritical = "evict"\nmedium = "keep"\n'
    )
    decisions = _by_id(recheck(RUNNING, p, at=AT, advisories=feed))
    assert set(decisions) == {"milan-old", "sgx"}
    evict = decisions["milan-old"]
    assert evict.action is Action.EVICT and evict.deadline == AT
    keep = decisions["sgx"]
    assert keep.action is Action.KEEP and keep.deadline is None
    assert keep.reasons[0].severity == "medium"


def test_strictest_action_over_all_reasons_wins() -> None:
    feed = parse_feed(_feed(_entry(severity="high")))
    p = policy(
        '[platforms]\nrefuse = ["AMD:Milan"]\n[advisories]\nseverity_threshold = "high"\n'
        '[patching]\nhigh = "drain 2d"\nother = "drain 1h"\n'
    )
    (decision,) = recheck(RUNNING[:1], p, at=AT, advisories=feed)
    assert decision.action is Action.DRAIN and decision.deadline == AT + dt.timedelta(hours=1)
    p_evict = dataclasses.replace(
        p, patching=(*p.patching[:-1], ("other", p.patch_rule("critical")))
    )
    (decision,) = recheck(RUNNING[:1], p_evict, at=AT, advisories=feed)
    assert decision.action is Action.EVICT


def test_binding_and_age_are_not_rechecked() -> None:
    strict = policy('[binding]\nrequire_report_data = true\n[freshness]\nmax_age = "1m"\n')
    assert recheck(RUNNING, strict, at=AT, advisories=AdvisorySet()) == ()


def test_decision_json() -> None:
    new = policy('[platforms]\nrefuse = ["AMD:Milan"]\n')
    doc = recheck(RUNNING[:1], new, at=AT)[0].to_json()
    assert doc["action"] == "drain" and doc["deadline"] == "2026-11-27T12:00:00Z"
    assert doc["reasons"][0]["rule"] == "platforms.refuse"
