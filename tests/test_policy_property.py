"""Property: adding a rule to a policy never turns a refusal into an acceptance."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from elsewhere.claims import Claims, Tee, Vendor, VerificationResult
from elsewhere.policy.advisories import Advisory, AdvisorySet, Affected
from elsewhere.policy.evaluate import compile_policy
from elsewhere.policy.model import (
    INTEL_TCB_STATUSES,
    AllowList,
    FlagRule,
    IdentityMinimum,
    PlatformMatch,
    Policy,
    Severity,
    TcbMinimum,
)
from policy_support import AT

GENERATIONS = ["Milan", "Genoa", "Turin", "Milan-B0", None]
COMPONENTS = ["bootloader", "snp", "microcode", "pcesvn", "sgx_comp_00", "tdx_comp_00"]
ADVISORIES = ["INTEL-SA-00615", "INTEL-SA-00828", "AMD-SB-3019", "X-1"]
FLAGS = ["smt", "migrate_ma", "sept_ve_disable"]
HEXES = ["aa", "bb", "cc"]
TEES = [Tee.SEV_SNP, Tee.TDX, Tee.SGX, Tee.NIL]
FEED = AdvisorySet(
    (
        Advisory(
            "AMD-SB-3019",
            Vendor.AMD,
            "t",
            Severity.HIGH,
            dt.date(2025, 2, 3),
            affected=(Affected(Tee.SEV_SNP, "Milan", fixed_in=(("microcode", 5),)),),
        ),
        Advisory("INTEL-SA-00615", Vendor.INTEL, "t", Severity.MEDIUM, dt.date(2022, 6, 14)),
    )
)


@st.composite
def claims(draw: st.DrawFn) -> Claims:
    tee = draw(st.sampled_from(TEES))
    vendor = {Tee.SEV_SNP: Vendor.AMD, Tee.NIL: Vendor.NONE}.get(tee, Vendor.INTEL)
    return Claims(
        vendor=vendor,
        tee=tee,
        generation=draw(st.sampled_from(GENERATIONS)),
        report_version=2,
        signer="x",
        debug=draw(st.booleans()),
        smt=draw(st.none() | st.booleans()),
        report_data=draw(st.sampled_from(["00" * 4, "ab" * 4])),
        measurements=draw(
            st.dictionaries(st.sampled_from(["measurement", "mrtd"]), st.sampled_from(HEXES))
        ),
        tcb=draw(st.dictionaries(st.sampled_from(COMPONENTS), st.integers(0, 9))),
        tcb_status=draw(st.none() | st.sampled_from(INTEL_TCB_STATUSES)),
        advisory_ids=tuple(draw(st.lists(st.sampled_from(ADVISORIES), max_size=2, unique=True))),
        flags=draw(st.dictionaries(st.sampled_from(FLAGS[1:]), st.booleans())),
        identity=draw(st.dictionaries(st.sampled_from(["vmpl", "isvprodid"]), st.integers(0, 2))),
        emulated=draw(st.booleans()),
    )


platforms = st.builds(
    PlatformMatch, st.sampled_from([Vendor.AMD, Vendor.INTEL]), st.sampled_from(GENERATIONS)
)
minimums = st.builds(
    TcbMinimum,
    st.sampled_from(TEES[:3]),
    st.sampled_from(GENERATIONS),
    st.sampled_from(COMPONENTS),
    st.integers(0, 9),
)
allow_lists = st.builds(
    AllowList,
    st.sampled_from(["measurements", "identity"]),
    st.sampled_from(TEES[:3]),
    st.sampled_from(["measurement", "mrtd", "vmpl", "isvprodid"]),
    st.lists(st.sampled_from([*HEXES, "0", "1"]), min_size=1, max_size=3).map(tuple),
)
severities = st.sampled_from(list(Severity))


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    return Policy(
        name="p",
        revision="1",
        tees=tuple(draw(st.lists(st.sampled_from(TEES), min_size=1, unique=True))),
        allow_debug=draw(st.booleans()),
        allow_emulated=draw(st.booleans()),
        platform_accept=tuple(draw(st.lists(platforms, max_size=2))),
        platform_refuse=tuple(draw(st.lists(platforms, max_size=2))),
        tcb_minimums=tuple(draw(st.lists(minimums, max_size=3))),
        intel_tcb_statuses=tuple(
            draw(st.lists(st.sampled_from(INTEL_TCB_STATUSES), min_size=1, unique=True))
        ),
        advisories_refuse=tuple(draw(st.lists(st.sampled_from(ADVISORIES), max_size=2))),
        severity_threshold=draw(st.none() | severities),
        unknown_severity=draw(severities),
        flags=tuple(
            FlagRule(tee, name, value)
            for (tee, name), value in draw(
                st.dictionaries(
                    st.tuples(st.sampled_from(TEES[:3]), st.sampled_from(FLAGS)), st.booleans()
                )
            ).items()
        ),
        allow_lists=tuple(draw(st.lists(allow_lists, max_size=2))),
        require_report_data=draw(st.booleans()),
        max_age=draw(st.none() | st.integers(0, 3600).map(lambda s: dt.timedelta(seconds=s))),
    )


def _stricter(p: Policy, data: st.DataObject) -> Policy:
    """p with one more rule added (a rule only ever restricts)."""
    r = dataclasses.replace
    additions: list[Callable[[], Policy]] = [
        lambda: r(p, platform_refuse=(*p.platform_refuse, data.draw(platforms))),
        lambda: r(p, tcb_minimums=(*p.tcb_minimums, data.draw(minimums))),
        lambda: r(
            p, advisories_refuse=(*p.advisories_refuse, data.draw(st.sampled_from(ADVISORIES)))
        ),
        lambda: r(p, allow_lists=(*p.allow_lists, data.draw(allow_lists))),
        lambda: r(
            p,
            identity_minimums=(
                *p.identity_minimums,
                IdentityMinimum(
                    data.draw(st.sampled_from(TEES[:3])),
                    data.draw(st.sampled_from(["vmpl", "isvprodid"])),
                    data.draw(st.integers(0, 3)),
                ),
            ),
        ),
        lambda: r(p, require_report_data=True),
        lambda: r(p, allow_debug=False),
        lambda: r(p, allow_emulated=False),
        lambda: r(p, tees=p.tees[1:]),
        lambda: r(p, intel_tcb_statuses=p.intel_tcb_statuses[1:]),
        lambda: r(
            p,
            max_age=min(
                # Not `p.max_age or …`: a maximum age of zero is a rule, and a strict one.
                dt.timedelta.max if p.max_age is None else p.max_age,
                data.draw(st.integers(0, 3600).map(lambda s: dt.timedelta(seconds=s))),
            ),
        ),
        lambda: r(
            p,
            severity_threshold=min(
                p.severity_threshold or Severity.CRITICAL,
                data.draw(severities),
                key=lambda s: s.rank,
            ),
        ),
        lambda: r(
            p, unknown_severity=max(p.unknown_severity, data.draw(severities), key=lambda s: s.rank)
        ),
    ]
    new_flag = (data.draw(st.sampled_from(TEES[:3])), data.draw(st.sampled_from(FLAGS)))
    if new_flag not in {(f.tee, f.name) for f in p.flags}:
        rule = FlagRule(*new_flag, data.draw(st.booleans()))
        additions.append(lambda: r(p, flags=(*p.flags, rule)))
    return data.draw(st.sampled_from(additions))()


@settings(max_examples=400, deadline=None)
@given(
    policies(),
    claims(),
    st.booleans(),
    st.none() | st.sampled_from(["00" * 4, "ab" * 4]),
    st.integers(0, 7200),
    st.data(),
)
def test_adding_a_rule_never_turns_a_refusal_into_an_acceptance(
    base: Policy,
    evidence_claims: Claims,
    with_feed: bool,
    expected: str | None,
    age: int,
    data: st.DataObject,
) -> None:
    stricter = _stricter(base, data)
    feed = FEED if with_feed else AdvisorySet()
    evidence = VerificationResult(evidence_claims, (), AT - dt.timedelta(seconds=age), "x")
    before = compile_policy(base, feed).evaluate(evidence, at=AT, expected_report_data=expected)
    after = compile_policy(stricter, feed).evaluate(evidence, at=AT, expected_report_data=expected)
    if not before.accepted:
        assert not after.accepted
    assert len(after.reasons) >= len(before.reasons)
