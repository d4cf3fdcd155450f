"""Typed quantities, base rates and the Beta quantile (research note §1.2, §2.5)."""

from __future__ import annotations

import math
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.special import betainc

from elsewhere.claims import Claims, Tee, Vendor
from elsewhere.errors import ConfigError
from elsewhere.risk.baserates import PlatformSummary, load_baserates
from elsewhere.risk.beta import upper_bound, upper_bound_array
from elsewhere.risk.bounds import BoundTable
from elsewhere.risk.quantities import (
    DAY,
    KEEP,
    MONTH,
    PERIODS,
    YEAR,
    CurrencyMismatch,
    Money,
    MoneyRate,
    PeriodMismatch,
    Rate,
    single_loss,
)


def test_ale_worked_case() -> None:
    # R6: AV $100,000, EF 25 % → SLE $25,000; ARO 3/yr → ALE $75,000/yr.
    sle = single_loss(Money(100_000, "USD"), "0.25")
    assert sle == Money(25_000, "USD")
    ale = Rate(3, YEAR) * sle
    assert ale == MoneyRate.of(75_000, "USD", YEAR)
    assert Rate(1, YEAR) * sle == MoneyRate.of(25_000, "USD", YEAR)


def test_brief_example_compromise_against_hardware_failure() -> None:
    # 0.005 × £55,000 = £275 a year, set against a hardware-failure risk of £500 a year.
    compromise = Rate("0.005", YEAR) * Money(55_000, "GBP")
    hardware = MoneyRate.of(500, "GBP", YEAR)
    assert compromise.amount == Decimal(275)
    assert compromise < hardware
    assert compromise + hardware == MoneyRate.of(775, "GBP", YEAR)
    with pytest.raises(PeriodMismatch, match="per year and one per month"):
        _ = compromise < MoneyRate.of(500, "GBP", MONTH)
    with pytest.raises(CurrencyMismatch, match="different currencies"):
        _ = compromise < MoneyRate.of(500, "USD", YEAR)


def test_default_table_gives_the_brief_likelihood() -> None:
    rates = load_baserates()
    plain = PlatformSummary(tee="sev-snp", smt=False)
    assert rates.likelihood(plain).rate == Rate("0.005", YEAR)
    risk = rates.likelihood(plain).rate * Money(55_000, "GBP")
    assert risk.amount == 275


def test_explicit_conversion_and_per_keep_rates() -> None:
    assert Rate(1, DAY).annualised() == Rate(365, YEAR)
    assert Rate(12, YEAR).per(MONTH) == Rate(1, MONTH)
    assert MoneyRate.of(100, "EUR", MONTH).annualised() == MoneyRate.of(1200, "EUR", YEAR)
    # LEF = keeps per year × per-keep failure probability
    assert Rate("0.002", KEEP).over(Rate(500, YEAR)) == Rate(1, YEAR)
    with pytest.raises(PeriodMismatch, match="keeps per year"):
        Rate("0.002", KEEP).annualised()
    with pytest.raises(PeriodMismatch):
        _ = Rate("0.002", KEEP) * Money(10, "USD") <= MoneyRate.of(60, "USD", YEAR)


_times = [p for p in PERIODS.values()]


@given(
    a=st.decimals(min_value=0, max_value=10**9, places=2),
    b=st.decimals(min_value=0, max_value=10**9, places=2),
    pa=st.sampled_from(_times),
    pb=st.sampled_from(_times),
    ca=st.sampled_from(["USD", "GBP", "EUR"]),
    cb=st.sampled_from(["USD", "GBP", "EUR"]),
)
def test_mixing_periods_or_currencies_always_raises(
    a: Decimal, b: Decimal, pa: object, pb: object, ca: str, cb: str
) -> None:
    left = MoneyRate.of(a, ca, pa)  # type: ignore[arg-type]
    right = MoneyRate.of(b, cb, pb)  # type: ignore[arg-type]
    ops = (
        lambda: left + right,
        lambda: left - right,
        lambda: left < right,
        lambda: left <= right,
        lambda: left > right,
        lambda: left >= right,
    )
    for op in ops:
        if pa != pb:
            with pytest.raises(PeriodMismatch):
                op()
        elif ca != cb:
            with pytest.raises(CurrencyMismatch):
                op()
        else:
            op()
    if ca != cb:
        with pytest.raises(CurrencyMismatch):
            _ = Money(a, ca) + Money(b, cb)
    if pa != pb:
        with pytest.raises(PeriodMismatch):
            _ = Rate(a, pa) + Rate(b, pb)  # type: ignore[arg-type]


def test_base_rates_terms_and_unprotected_platforms() -> None:
    rates = load_baserates()
    tdx = PlatformSummary(
        tee="tdx", tcb_status="OutOfDate", advisory_ids=("INTEL-SA-1", "INTEL-SA-2"), smt=True
    )
    got = rates.likelihood(tdx)
    # 0.005 × 5 × 1.25 + 2 × 0.005 (medium, the default severity)
    assert got.rate == Rate("0.04125", YEAR)
    assert any("OutOfDate" in t for t in got.terms)
    for summary in (
        PlatformSummary(tee="nil"),
        PlatformSummary(tee="sev-snp", emulated=True),
        PlatformSummary(tee="sgx", debug=True),
        PlatformSummary(tee="sgx", tcb_status="Revoked"),
        PlatformSummary(tee="unheard-of"),
    ):
        result = rates.likelihood(summary)
        assert result.rate == Rate(1, YEAR) and result.warning
    assert rates.likelihood(PlatformSummary(tee="tdx", tcb_status="Weird")).rate == Rate(
        "0.04", YEAR
    )


def test_base_rates_override_file(tmp_path: Path) -> None:
    override = tmp_path / "rates.toml"
    override.write_text('[tee]\nsev-snp = 0.001\n[advisories.severity]\n"SA-9" = "critical"\n')
    rates = load_baserates(override)
    got = rates.likelihood(PlatformSummary(tee="sev-snp", advisory_ids=("SA-9",)))
    assert got.rate == Rate("0.051", YEAR)
    assert rates.tee["tdx"] == Decimal("0.005")  # untouched keys keep their defaults
    bad = tmp_path / "bad.toml"
    bad.write_text('[advisories]\ndefault_severity = "apocalyptic"\n')
    with pytest.raises(ConfigError, match="unknown severity"):
        load_baserates(bad)
    bad.write_text("[tee\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_baserates(bad)


def test_platform_summary_from_claims() -> None:
    claims = Claims(
        vendor=Vendor.INTEL,
        tee=Tee.TDX,
        generation=None,
        report_version=4,
        signer="PCK",
        debug=False,
        smt=None,
        report_data="00" * 64,
        tcb_status="SWHardeningNeeded",
        advisory_ids=("INTEL-SA-00615",),
        chip_id=None,
    )
    summary = PlatformSummary.from_claims(claims)
    assert summary == PlatformSummary.from_json(claims.to_json(), "claims")
    assert summary.tcb_status == "SWHardeningNeeded"


# --- the Beta quantile ----------------------------------------------------------------------


def test_upper_bound_worked_values() -> None:
    # P8: r = 9, s = 0 → lower 5 % of p = 0.74113, q95 = 0.25887
    assert upper_bound(9, 0, 0.95) == pytest.approx(0.25887, abs=1e-5)
    # The note's "n = 1500 → 0.0019952" is the Clopper-Pearson bound 1 − 0.05^(1/n), which is
    # Beta(1, n): our r = n − 1. With a uniform prior and r = n the bound is 1 − 0.05^(1/(n+1)).
    assert upper_bound(1499, 0, 0.95) == pytest.approx(0.0019952, abs=1e-7)
    assert upper_bound(299, 0, 0.95) == pytest.approx(0.0099361, abs=1e-7)
    assert upper_bound(1500, 0, 0.95) == pytest.approx(1 - 0.05 ** (1 / 1501), rel=1e-12)
    # rule of three
    assert upper_bound(1499, 0, 0.95) == pytest.approx(3 / 1500, rel=0.01)
    # with failures: the quantile inverts the CDF
    for r, s in ((18, 1), (100, 7.5), (0.3, 2.2), (1e6, 3), (2, 1e4)):
        q = upper_bound(r, s, 0.95)
        assert betainc(s + 1, r + 1, q) == pytest.approx(0.95, abs=1e-10)


def test_the_quantile_inverts_the_integrated_density() -> None:
    """scipy's quantile against a midpoint-rule integration of the Beta density, and its
    refusals: a confidence outside (0, 1) or a negative Beta parameter is an error, not nan."""
    r, s = 3.0, 1.5
    q = upper_bound(r, s, 0.95)
    a, b, n = s + 1, r + 1, 200_000
    lbeta = math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)
    h = q / n
    area = sum(
        math.exp((a - 1) * math.log((i + 0.5) * h) + (b - 1) * math.log1p(-(i + 0.5) * h) - lbeta)
        for i in range(n)
    )
    assert area * h == pytest.approx(0.95, rel=1e-8)
    assert upper_bound(2, 2, 0.5) == pytest.approx(0.5, abs=1e-14)  # symmetric Beta(3, 3)
    for bad in (1.0, 0.0, math.nan):
        with pytest.raises(ValueError, match="confidence"):
            upper_bound(2, 2, bad)
        with pytest.raises(ValueError, match="confidence"):
            upper_bound_array([2.0], [2.0], bad)
    with pytest.raises(ValueError, match="r, s > -1"):
        upper_bound(math.nan, 0, 0.95)
    with pytest.raises(ValueError, match="r, s > -1"):
        upper_bound_array([1.0, -2.0], [0.0, 0.0], 0.95)


@given(
    r=st.floats(min_value=0, max_value=1e12),
    s=st.floats(min_value=0, max_value=1e9),
    confidence=st.floats(min_value=0.5, max_value=0.999),
)
def test_the_quantile_is_a_probability_that_inverts_the_cdf(
    r: float, s: float, confidence: float
) -> None:
    """Over the whole evidence range (the hand-written quantile crashed on fuzzed inputs):
    a probability, and the CDF crosses the confidence there — checked a relative 1e-12 either
    side, or, where the distribution is so narrow (a, b ~ 1e8) that one such step moves the
    CDF by more than the inverse's own accuracy, the CDF within 1e-7 of the confidence."""
    q = upper_bound(r, s, confidence)
    assert 0.0 <= q <= 1.0
    a, b = s + 1, r + 1
    step = max(q * 1e-12, 1e-300)
    crosses = betainc(a, b, max(q - step, 0.0)) <= confidence <= betainc(a, b, min(q + step, 1.0))
    assert crosses or abs(betainc(a, b, q) - confidence) <= 1e-7


def test_an_extreme_quantile_is_found_again_on_the_cdf() -> None:
    """Far more bad than good (a ~ 3.7e8, b ~ 22): scipy's inverse answered 1 − 2.3e-6, where
    the CDF is 0, not the asked 0.83; the bound is the point where the CDF is the confidence."""
    r, s, confidence = 21.072933193153588, 370431818.90896004, 0.8327328335150496
    q = upper_bound(r, s, confidence)
    assert abs(betainc(s + 1, r + 1, q) - confidence) <= 1e-6
    assert upper_bound_array([r], [s], confidence)[0] == pytest.approx(q, rel=1e-12)


@given(
    r=st.floats(min_value=0, max_value=1e6),
    s=st.floats(min_value=0, max_value=1e4),
)
def test_vectorised_quantile_matches_scalar(r: float, s: float) -> None:
    scalar = upper_bound(r, s, 0.95)
    vector = upper_bound_array([r], [s], 0.95)[0]  # type: ignore[arg-type]
    assert vector == pytest.approx(scalar, rel=1e-11)


@given(
    r=st.floats(min_value=0, max_value=2e7),
    s=st.floats(min_value=0, max_value=2e6),
)
def test_bound_table_brackets_the_exact_quantile(r: float, s: float) -> None:
    import numpy as np

    table = _TABLE
    lower, upper = table.bracket(np.array([r]), np.array([s]))
    exact = upper_bound(r, s, 0.95)
    assert lower[0] <= exact * (1 + 1e-12) and exact <= upper[0] * (1 + 1e-12)


_TABLE = BoundTable(0.95)
