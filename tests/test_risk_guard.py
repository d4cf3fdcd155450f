"""The long-game guard (research note §3, E1, E2) and the scenario simulator."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from elsewhere.errors import InputError
from elsewhere.risk.beta import upper_bound
from elsewhere.risk.guard import (
    Bound,
    GuardConfig,
    RiskBasis,
    annual_basis,
    max_exposure,
    per_keep_basis,
    risk_limit,
)
from elsewhere.risk.quantities import (
    KEEP,
    MONTH,
    YEAR,
    CurrencyMismatch,
    Money,
    MoneyRate,
    PeriodMismatch,
    Rate,
)
from elsewhere.risk.reputation import Event, EventKind, ReputationConfig, snapshot_of
from elsewhere.risk.simulate import load_scenario, run, scenario_from_doc, summarise

T0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "risk"
BASIS = per_keep_basis(Rate(0, KEEP), MoneyRate.of(60, "USD", KEEP))  # b = $60 per keep


def _snapshot(
    goods: list[float], bads: int = 0, penalty: float = 2.0, quarantined: str | None = None
):  # type: ignore[no-untyped-def]
    events = [Event(EventKind.KEEP_COMPLETED, T0, Money(str(v), "USD")) for v in goods]
    events += [Event(EventKind.KEEP_LOST, T0)] * bads
    config = ReputationConfig(tau_good_days=None, tau_bad_days=None, penalty=penalty)
    return snapshot_of("chip:x", events, T0, config, quarantined)


def test_e1_many_cheap_successes_do_not_buy_an_expensive_placement() -> None:
    snap = _snapshot([1.0] * 500)
    # count-based: q95(500, 0) = 0.005962 → allows $10,064, so the $10,000 would be granted
    q_count = upper_bound(500, 0, 0.95)
    assert q_count == pytest.approx(0.005962, abs=1e-6)
    assert 60 / q_count == pytest.approx(10_064, abs=1)
    # value-relative: q_V(10k) = 0.9423 → $63.67 at V = 10k; risk cap alone $130.08
    assert 60 / snap.upper_bound(10_000) == pytest.approx(63.67, abs=0.01)
    assert risk_limit(snap, BASIS, 10_000) == pytest.approx(130.08, abs=0.01)
    assert GuardConfig().exit_limit(0, snap.delivered, 0) == pytest.approx(250)
    exposure = max_exposure(snap, BASIS, GuardConfig(), request=10_000)
    assert exposure.allowed == pytest.approx(2.0) and exposure.binding is Bound.GROWTH
    assert exposure.allowed < 10_000
    loose = max_exposure(snap, BASIS, GuardConfig(gamma=1e9, kappa=1.0), request=10_000)
    assert loose.binding is Bound.RISK and loose.allowed == pytest.approx(130.08, abs=0.01)
    assert loose.q == pytest.approx(0.4612, abs=1e-4)


def test_exit_cap_and_collateral() -> None:
    snap = _snapshot([100.0] * 10)  # delivered $1,000
    config = GuardConfig(gamma=100)
    basis = per_keep_basis(Rate(0, KEEP), MoneyRate.of(10**9, "USD", KEEP))
    exposure = max_exposure(snap, basis, config, request=5000, outstanding=300)
    assert exposure.binding is Bound.EXIT and exposure.allowed == pytest.approx(200)
    more = max_exposure(snap, basis, config, request=5000, outstanding=300, collateral=2000)
    assert more.allowed == pytest.approx(1200)


def test_newcomer_gets_only_the_trial_allowance_and_quarantine_gets_nothing() -> None:
    fresh = _snapshot([])
    assert max_exposure(fresh, BASIS, GuardConfig(), request=50).allowed == 0.0
    trial = max_exposure(fresh, BASIS, GuardConfig(trial_allowance=10), request=50)
    assert trial.allowed == 10.0
    held = max_exposure(_snapshot([10.0] * 50, quarantined="alarm"), BASIS, GuardConfig())
    assert held.allowed == 0.0 and held.binding is Bound.QUARANTINE


def test_basis_refuses_mixed_periods_and_currencies() -> None:
    with pytest.raises(PeriodMismatch):
        RiskBasis(Rate("0.005", YEAR), Rate(12, YEAR), MoneyRate.of(60, "USD", KEEP))
    with pytest.raises(PeriodMismatch):
        per_keep_basis(Rate("0.005", YEAR), MoneyRate.of(60, "USD", KEEP))
    # explicit annualisation of time periods is allowed
    basis = annual_basis(Rate("0.005", YEAR), Rate(1, MONTH), MoneyRate.of(100, "USD", MONTH))
    assert basis.keeps == Rate(12, YEAR) and basis.budget == MoneyRate.of(1200, "USD", YEAR)
    assert basis.risk(0.01, Money(1000, "USD")) == MoneyRate.of(125, "USD", YEAR)
    with pytest.raises(CurrencyMismatch):
        _ = basis.risk(0.1, Money(10, "EUR")) <= basis.budget


@settings(max_examples=60, deadline=None)
@given(
    goods=st.lists(st.sampled_from([1.0, 10.0, 50.0, 200.0, 1000.0]), max_size=60),
    bads=st.integers(min_value=0, max_value=20),
    extra=st.integers(min_value=1, max_value=10),
    request=st.sampled_from([5.0, 100.0, 1000.0, 10_000.0]),
    gamma=st.sampled_from([2.0, 1e9]),
)
def test_more_failures_never_raise_the_granted_exposure(
    goods: list[float], bads: int, extra: int, request: float, gamma: float
) -> None:
    config = GuardConfig(gamma=gamma, kappa=1.0, trial_allowance=20)
    fewer = max_exposure(_snapshot(goods, bads), BASIS, config, request=request)
    more = max_exposure(_snapshot(goods, bads + extra), BASIS, config, request=request)
    assert more.allowed <= fewer.allowed + 1e-9 * max(1.0, fewer.allowed)


def test_e2_con_man_loses_far_less_under_the_guard() -> None:
    rows = run(load_scenario(EXAMPLES / "con-man.toml"))
    summary = {s.strategy: s for s in summarise(rows)}
    count_grants = [r.granted for r in rows if r.strategy == "count" and r.request == 1000]
    assert count_grants[:5] == pytest.approx([231.8, 277.6, 307.2, 328.6, 345.2], abs=0.05)
    assert all(b > a for a, b in itertools.pairwise(count_grants))  # rises
    assert summary["count"].loss == pytest.approx(7612.8, abs=0.05)
    assert summary["guard"].loss == pytest.approx(400.0)  # γ-bound $20 per cycle
    assert summary["guard+cusum"].loss == pytest.approx(40.0)  # quarantined at the alarm
    assert summary["guard"].loss < summary["count"].loss / 15
    assert summary["guard+cusum"].alarm_step == 20
    assert all(r.granted == 0 for r in rows if r.strategy == "guard+cusum" and r.step > 20)


def test_honest_host_is_never_quarantined_and_loses_nothing() -> None:
    rows = run(load_scenario(EXAMPLES / "honest-host.toml"))
    summary = {s.strategy: s for s in summarise(rows)}
    assert summary["guard+cusum"].alarm_step is None
    assert summary["guard+cusum"].jobs_run == len(rows) // 3
    assert all(s.loss == 0 for s in summary.values())
    # the price of the guard: an honest host is trusted more slowly than by counting
    assert summary["guard"].granted < summary["count"].granted


def _doc(**over: object) -> dict[str, object]:
    doc: dict[str, object] = {
        "schema": "elsewhere.risk.scenario/1",
        "model": {"budget": {"amount": 60, "per": "keep"}},
        "block": [{"repeat": 2, "jobs": [{"count": 3, "request": 10, "outcome": "good"}]}],
    }
    doc.update(over)
    return doc


def test_scenario_errors_are_one_line() -> None:
    assert len(scenario_from_doc(_doc()).jobs) == 6
    bad_docs = [
        _doc(schema="other"),
        _doc(block=[{"jobs": [{"request": 10, "outcome": "maybe"}]}]),
        _doc(block=[{"jobs": [{"request": -1, "outcome": "good"}]}]),
        _doc(block=[]),
        _doc(
            block=[{"repeat": 10**6, "jobs": [{"count": 10**6, "request": 1, "outcome": "good"}]}]
        ),
        _doc(strategies=["martingale"]),
        _doc(model={"budget": {"amount": 60, "per": "fortnight"}}),
        _doc(
            model={
                "budget": {"amount": 60, "per": "keep"},
                "platform_likelihood": {"value": 0.01, "per": "year"},
            }
        ),
    ]
    for doc in bad_docs:
        with pytest.raises(InputError) as info:
            scenario_from_doc(doc)
        assert "\n" not in str(info.value)


def test_spent_budget_allows_nothing() -> None:
    spent = per_keep_basis(Rate(0, KEEP), MoneyRate.of(0, "USD", KEEP))
    exposure = max_exposure(_snapshot([10.0] * 50), spent, GuardConfig(), request=15)
    assert exposure.allowed == 0.0 and exposure.binding is Bound.RISK
