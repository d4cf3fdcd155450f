"""Reputation from events (research note §2.1, §3) and the CUSUM detector (E3)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from elsewhere.errors import InputError
from elsewhere.risk.cusum import BernoulliCusum, CusumConfig
from elsewhere.risk.quantities import CurrencyMismatch, Money
from elsewhere.risk.reputation import (
    Event,
    EventKind,
    ReputationBook,
    ReputationConfig,
    ReputationSnapshot,
    snapshot_of,
)

T0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
NO_FORGETTING = ReputationConfig(tau_good_days=None, tau_bad_days=None, penalty=1.0)


def _good(at: dt.datetime, value: float = 1.0) -> Event:
    return Event(EventKind.KEEP_COMPLETED, at, Money(str(value), "USD"))


def _lost(at: dt.datetime) -> Event:
    return Event(EventKind.KEEP_LOST, at)


def test_beta_eight_good_two_bad_is_three_quarters() -> None:
    events = [_good(T0)] * 8 + [_lost(T0)] * 2
    snap = snapshot_of("host:x", events, T0, NO_FORGETTING)
    assert snap.evidence(1.0) == (8.0, 2.0)
    assert snap.mean_success() == pytest.approx(0.75)
    # P2: 7 good, 1 bad → 0.8
    snap = snapshot_of("host:x", [_good(T0)] * 7 + [_lost(T0)], T0, NO_FORGETTING)
    assert snap.mean_success() == pytest.approx(0.8)


def test_penalty_weighs_failures() -> None:
    events = [_good(T0)] * 8 + [_lost(T0)] * 2
    snap = snapshot_of("host:x", events, T0, ReputationConfig(None, None, penalty=2.0))
    assert snap.bad == 4.0
    assert snap.mean_success() == pytest.approx(9 / 14)


def test_failures_are_forgotten_more_slowly_than_successes() -> None:
    config = ReputationConfig()  # τ+ = 180 d, τ- = 720 d
    later = T0 + dt.timedelta(days=360)
    snap = snapshot_of("host:x", [_good(T0), _lost(T0)], later, config)
    r, s = snap.evidence(1.0)
    assert r == pytest.approx(0.25)  # two half-lives
    assert s == pytest.approx(2.0 * 2**-0.5)  # half a half-life, × PF 2
    # an old failure outweighs as many old successes: forgetting does not launder it
    assert s > r


def test_value_relative_evidence() -> None:
    events = [_good(T0, 1.0)] * 500
    snap = snapshot_of("host:x", events, T0, NO_FORGETTING)
    assert snap.evidence(1.0)[0] == pytest.approx(500)
    assert snap.evidence(10_000)[0] == pytest.approx(0.05)
    assert snap.upper_bound(10_000) == pytest.approx(0.9423, abs=1e-4)  # E1
    assert snap.max_good == 1.0 and snap.delivered == pytest.approx(500)


def test_chip_key_survives_a_new_host_name() -> None:
    book = ReputationBook(NO_FORGETTING)
    old = book.key_for("host-a", "ABCDEF")
    book.record(old, _lost(T0))
    new = book.key_for("host-b-renamed", "abcdef")
    assert new == old == "chip:abcdef"
    assert book.snapshot(new, T0).bad == 1.0
    assert book.key_for("plain-host") == "host:plain-host"
    assert book.key_for("host-a") == old  # known host, chip not repeated


def test_tcb_rollback_and_measurement_churn() -> None:
    book = ReputationBook()
    tcb = {"bootloader": 3, "snp": 8, "microcode": 115}
    assert book.observe_attestation("h", "c1", T0, tcb=tcb, measurements={"m": "aa"}) == []
    events = book.observe_attestation(
        "h", "c1", T0, tcb={**tcb, "snp": 7}, measurements={"m": "bb"}, accepted=False
    )
    kinds = [e.kind for e in events]
    assert kinds == [
        EventKind.ATTESTATION_REFUSED,
        EventKind.TCB_ROLLBACK,
        EventKind.MEASUREMENT_CHURN,
    ]
    assert "snp 7 < 8" in events[1].note
    # the high-water mark stays at 8: a later 8 is not a rollback, a 7 again is
    assert book.observe_attestation("h", "c1", T0, tcb=tcb) == []
    again = book.observe_attestation("h", "c1", T0, tcb={**tcb, "snp": 7})
    assert [e.kind for e in again] == [EventKind.TCB_ROLLBACK]
    snap = book.snapshot("chip:c1", T0)
    weights = ReputationConfig().bad_weights
    expected = 2.0 * (
        weights[EventKind.ATTESTATION_REFUSED]
        + 2 * weights[EventKind.TCB_ROLLBACK]
        + weights[EventKind.MEASUREMENT_CHURN]
    )
    assert snap.bad == pytest.approx(expected)


def test_currency_mismatch_in_one_record() -> None:
    book = ReputationBook()
    key = book.key_for("h")
    book.record(key, _good(T0))
    with pytest.raises(CurrencyMismatch):
        book.record(key, Event(EventKind.KEEP_COMPLETED, T0, Money(1, "EUR")))


def test_event_json_round_trip_and_errors() -> None:
    event = Event(EventKind.TCB_ROLLBACK, T0, None, "snp 7 < 8")
    assert Event.from_json(event.to_json(), "e") == event
    good = _good(T0, 12.5)
    assert Event.from_json(good.to_json(), "e") == good
    with pytest.raises(InputError, match="kind"):
        Event.from_json({"kind": "nope", "at": "2025-01-01"}, "events[0]")
    with pytest.raises(InputError, match="positive value"):
        Event.from_json({"kind": "keep_completed", "at": "2025-01-01"}, "events[0]")


def _con_man_outcomes(cycles: int = 20) -> list[bool]:
    return ([False] * 9 + [True]) * cycles


def test_cusum_alarms_on_the_con_man() -> None:
    # E3: w_bad = 2.3026, w_good = −0.0953; alarm at outcome 20 (h = 3.0) / 30 (h = 4.6)
    config = CusumConfig()
    assert config.bad_step == pytest.approx(2.3026, abs=1e-4)
    assert config.good_step == pytest.approx(-0.0953, abs=1e-4)
    for h, expected in ((3.0, 20), (4.6, 30)):
        detector = BernoulliCusum(CusumConfig(h=h))
        alarms = [n for n, bad in enumerate(_con_man_outcomes(), 1) if detector.update(bad)]
        assert alarms == [expected]  # raised once


def test_cusum_quiet_on_an_honest_host() -> None:
    detector = BernoulliCusum()
    outcomes = ([False] * 99 + [True]) * 10  # 1 % failures
    assert not any(detector.update(bad) for bad in outcomes)


def test_alarm_quarantines_and_release_restarts() -> None:
    book = ReputationBook()
    key = book.key_for("h", "c9")
    raised = [book.record(key, _lost(T0) if bad else _good(T0, 10)) for bad in _con_man_outcomes(3)]
    assert raised.index(True) == 19
    snap = book.snapshot(key, T0)
    assert snap.quarantined is not None and "CUSUM alarm at outcome 20" in snap.quarantined
    book.release(key)
    assert book.snapshot(key, T0).quarantined is None
    assert len(book.events(key)) == 30  # the record itself stays


@given(
    st.lists(st.floats(min_value=0.01, max_value=1e6), min_size=0, max_size=20),
    st.integers(min_value=0, max_value=5),
    st.floats(min_value=0.01, max_value=1e6),
    st.floats(min_value=0.01, max_value=1e6),
)
def test_the_view_at_one_value_is_exact_there_and_never_looser_elsewhere(
    values: list[float], lost: int, at_value: float, other: float
) -> None:
    events = [_good(T0, round(v, 2)) for v in values] + [_lost(T0)] * lost
    full = snapshot_of("host:x", events, T0 + dt.timedelta(days=3), ReputationConfig())
    seen = full.seen_at(at_value)
    assert seen.evidence(at_value) == pytest.approx(full.evidence(at_value))
    assert seen.upper_bound(at_value) == pytest.approx(full.upper_bound(at_value))
    assert seen.evidence(other)[0] <= full.evidence(other)[0] * (1 + 1e-9) + 1e-12
    assert seen.max_good <= full.max_good and seen.max_good <= at_value
    assert min(full.max_good, at_value) == seen.max_good  # the growth cap at at_value holds
    again = ReputationSnapshot.from_json(
        json.loads(json.dumps(seen.to_json())), "r", seen.key, seen.at, seen.confidence, None
    )
    assert again == seen


@pytest.mark.parametrize(
    ("doc", "where"),
    [
        ([], "r"),
        ({"good": "x"}, "r.good"),
        ({"good": [[1, 2, 3]]}, "r.good"),
        ({"good": [["1", 2]]}, "r.good[0]"),
        ({"good": [[1, float("nan")]]}, "r.good[0][1]"),
        ({"good": [[1, 1e300]]}, "r.good[0][1]"),
        ({"good": [[1e-308, 1]]}, "r.good[0][0]"),
        ({"good": [[0, 1]]}, "r.good[0][0]"),
        ({"bad": -1}, "r.bad"),
        ({"delivered": True}, "r.delivered"),
        ({"max_good": float("inf")}, "r.max_good"),
        ({"currency": 5}, "r.currency"),
    ],
)
def test_a_malformed_aggregate_is_refused_with_where(doc: object, where: str) -> None:
    with pytest.raises(InputError) as error:
        ReputationSnapshot.from_json(doc, "r", "host:x", T0, 0.95, None)
    assert where in str(error.value)
