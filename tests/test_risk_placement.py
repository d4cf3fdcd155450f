"""Placement: least risk first, typed refusals, records; the pruned engine equals brute force."""

from __future__ import annotations

import datetime as dt
import json
import random
from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from elsewhere.errors import InputError
from elsewhere.risk.baserates import PlatformSummary, load_baserates
from elsewhere.risk.beta import upper_bound
from elsewhere.risk.guard import GuardConfig
from elsewhere.risk.inputs import HostCandidate, PlacementRequest
from elsewhere.risk.placement import PlacementConfig, PlacementEngine, place
from elsewhere.risk.quantities import YEAR, CurrencyMismatch, Money, MoneyRate, Rate
from elsewhere.risk.records import Reason
from elsewhere.risk.reputation import ReputationSnapshot

T0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
SNP = PlatformSummary(tee="sev-snp", smt=False)


def _host(
    name: str,
    goods: dict[float, float] | None = None,
    bad: float = 0.0,
    platform: PlatformSummary = SNP,
    chip: str | None = None,
    collateral: float = 0.0,
    outstanding: float = 0.0,
    quarantined: str | None = None,
) -> HostCandidate:
    goods = goods or {}
    snap = ReputationSnapshot(
        key=f"chip:{chip}" if chip else f"host:{name}",
        at=T0,
        currency="USD",
        good=tuple(sorted(goods.items())),
        bad=bad,
        delivered=sum(v * w for v, w in goods.items()),
        max_good=max(goods, default=0.0),
        confidence=0.95,
        quarantined=quarantined,
    )
    return HostCandidate(
        name, platform, snap, Money(str(collateral), "USD"), Money(str(outstanding), "USD")
    )


def _request(value: float = 1000, replicas: int = 1, budget: float = 10_000, **kw: object):  # type: ignore[no-untyped-def]
    return PlacementRequest(
        deployment_id=str(kw.pop("dep", "dep")),
        tenant=str(kw.pop("tenant", "acme")),
        impact=Money(str(value), "USD"),
        replicas=replicas,
        budget=MoneyRate.of(budget, "USD", YEAR),
        **kw,  # type: ignore[arg-type]
    )


def test_least_risk_host_wins_and_the_record_has_every_figure() -> None:
    veteran = _host("veteran", {1000.0: 400.0, 2000.0: 50.0})
    shaky = _host("shaky", {1000.0: 400.0, 2000.0: 50.0}, bad=6.0)
    sgx = _host("sgx", {1000.0: 450.0}, platform=PlatformSummary(tee="sgx"))
    (decision,) = place([shaky, sgx, veteran], [_request(1000, keeps_per_year=Rate(4, YEAR))])
    assert decision.placed and decision.host_id == "veteran"
    q = upper_bound(400 + 50, 0.0, 0.95)
    assert decision.evidence == pytest.approx((450.0, 0.0, q))
    expected = (0.005 + 4 * q) * 1000
    assert decision.risk is not None
    assert float(decision.risk.amount) == pytest.approx(expected, abs=0.01)
    assert decision.risk.amount >= Decimal(repr(expected)).quantize(Decimal("0.01"))
    doc = decision.to_json()
    assert doc["schema"] == "elsewhere.risk.placement/1"
    assert doc["decision"] == "placed"
    assert doc["likelihood"]["platform"]["rate"] == {"value": "0.005", "per": "year"}
    assert doc["bound"]["confidence"] == 0.95 and doc["bound"]["q"] == pytest.approx(q)
    assert doc["caps"]["growth_limit"] == {"amount": "4000", "currency": "USD"}
    assert doc["caps"]["binding"] in ("risk budget", "growth cap", "exit cap")
    assert json.loads(json.dumps(doc)) == doc
    with pytest.raises(AttributeError):
        decision.placed = False  # type: ignore[misc]


def test_refusals_say_which_bound() -> None:
    hosts = [
        _host("new", {}, collateral=10_000),  # growth cap 0
        _host("penny", {1.0: 500.0}),  # growth cap $2, exit cap $250
        _host("held", {5000.0: 100.0}, quarantined="CUSUM alarm"),
    ]
    (decision,) = place(hosts, [_request(1000)])
    assert not decision.placed
    reasons = {r.reason: r for r in decision.refusals}
    assert set(reasons) == {Reason.GROWTH_CAP, Reason.EXIT_CAP, Reason.QUARANTINED}
    assert reasons[Reason.GROWTH_CAP].hosts == 2 and reasons[Reason.EXIT_CAP].hosts == 1
    assert "largest allowed is 10000 USD" in str(reasons[Reason.GROWTH_CAP])
    assert decision.summary.startswith("refused because")
    assert decision.to_json()["refusals"][0]["reason"] in {"growth_cap", "exit_cap", "quarantined"}


def test_exit_cap_counts_outstanding_exposure() -> None:
    host = _host("h", {800.0: 5.0}, collateral=0.0, outstanding=1500)  # κ·4000 = 2000
    assert place([host], [_request(400)])[0].placed
    (refused,) = place([host], [_request(600)])
    assert [r.reason for r in refused.refusals] == [Reason.EXIT_CAP]


def test_budget_refusal_and_accumulation_across_replicas() -> None:
    hosts = [_host(f"h{i}", {1000.0: 300.0}, chip=f"c{i}") for i in range(3)]
    q = upper_bound(300, 0, 0.95)
    one = (0.005 + q) * 1000
    decisions = place(hosts, [_request(1000, replicas=3, budget=2.5 * one)])
    assert [d.placed for d in decisions] == [True, True, False]
    last = decisions[-1]
    assert [r.reason for r in last.refusals] == [Reason.RISK_BUDGET]
    assert "exceeds the remaining" in str(last.refusals[0])
    assert last.risk is not None  # the figures of the host it would have used
    assert float(last.committed_before.amount) == pytest.approx(2 * one, abs=0.02)
    # the same tenant's next deployment sees the committed risk
    engine = PlacementEngine(hosts)
    engine.place([_request(1000, budget=1.5 * one, dep="a")])
    (second,) = engine.place([_request(1000, budget=1.5 * one, dep="b")])
    assert not second.placed


def test_one_replica_per_chip_even_under_two_host_names() -> None:
    hosts = [
        _host("old-name", {1000.0: 300.0}, chip="abc"),
        _host("new-name", {1000.0: 300.0}, chip="abc"),
        _host("other", {1000.0: 100.0}, chip="def"),
    ]
    decisions = place(hosts, [_request(1000, replicas=3)])
    assert [d.placed for d in decisions] == [True, True, False]
    assert {decisions[0].reputation_key, decisions[1].reputation_key} == {"chip:abc", "chip:def"}
    assert Reason.SAME_DEPLOYMENT in {r.reason for r in decisions[2].refusals}


def test_ties_go_to_the_host_with_less_outstanding() -> None:
    busy = _host("busy", {1000.0: 300.0}, chip="a", collateral=10**6, outstanding=5000)
    idle = _host("idle", {1000.0: 300.0}, chip="b", collateral=10**6)
    assert place([busy, idle], [_request(1000)])[0].host_id == "idle"


def test_two_reputations_for_one_key_is_an_input_error() -> None:
    with pytest.raises(InputError, match="same key"):
        place([_host("a", {1.0: 1.0}, chip="x"), _host("b", {}, chip="x")], [_request(1)])


def test_no_hosts_and_currency_mismatch() -> None:
    (decision,) = place([], [_request(1000)])
    assert [r.reason for r in decision.refusals] == [Reason.NO_ELIGIBLE_HOSTS]
    with pytest.raises(CurrencyMismatch):
        place(
            [_host("h", {1000.0: 10.0})],
            [PlacementRequest("d", "t", Money(10, "EUR"), 1, MoneyRate.of(100, "EUR", YEAR))],
        )


def _brute_force(hosts: list[HostCandidate], requests: list[PlacementRequest], guard: GuardConfig):  # type: ignore[no-untyped-def]
    """Score every host exactly, in plain Python: the reference the engine must equal."""
    rates = load_baserates()
    outstanding = {}
    for h in hosts:
        outstanding[h.reputation.key] = outstanding.get(h.reputation.key, 0.0) + float(
            h.outstanding.amount if h.outstanding else 0
        )
    committed: dict[str, float] = {}
    chosen: list[str | None] = []
    for req in requests:
        value = float(req.impact.amount)
        keeps = float(req.keeps_per_year.annualised().value)
        used: set[str] = set()
        for _ in range(req.replicas):
            best: tuple[float, float, int] | None = None
            for i, h in enumerate(hosts):
                rep = h.reputation
                coll = float(h.collateral.amount) if h.collateral else 0.0
                if rep.quarantined or rep.key in used:
                    continue
                if guard.growth_limit(rep.max_good) < value:
                    continue
                if guard.exit_limit(coll, rep.delivered, outstanding[rep.key]) < value:
                    continue
                p = float(rates.likelihood(h.platform).rate.value)
                risk = (p + keeps * rep.upper_bound(value)) * value
                key = (risk, outstanding[rep.key], i)
                if best is None or key < best:
                    best = key
            remaining = float(req.budget.amount) - committed.get(req.tenant, 0.0)
            if best is None or best[0] > remaining + 0.01:
                chosen.append(None)
                continue
            host = hosts[best[2]]
            chosen.append(host.host_id)
            used.add(host.reputation.key)
            outstanding[host.reputation.key] += value
            committed[req.tenant] = committed.get(req.tenant, 0.0) + best[0]
    return chosen


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_engine_equals_brute_force(seed: int) -> None:
    rnd = random.Random(seed)
    platforms = [
        PlatformSummary(tee="sev-snp", smt=rnd.random() < 0.5),
        PlatformSummary(tee="tdx", tcb_status="OutOfDate", advisory_ids=("A",)),
        PlatformSummary(tee="sgx", tcb_status="UpToDate"),
    ]
    chips: dict[str, HostCandidate] = {}
    hosts = []
    for i in range(150):
        chip = f"c{rnd.randint(0, 120)}"  # some chips behind two host names
        outstanding = rnd.choice([0.0, 0.0, 2000.0])
        if chip in chips:  # same chip: same reputation and collateral, its own name
            hosts.append(replace(chips[chip], host_id=f"h{i}"))
            continue
        goods: dict[float, float] = {}
        for _ in range(rnd.randint(0, 40)):
            v = round(10 ** rnd.uniform(0, 4), 2)
            goods[v] = goods.get(v, 0.0) + rnd.uniform(0.2, 1.0)
        chips[chip] = _host(
            f"h{i}",
            goods,
            bad=rnd.choice([0.0, 0.0, rnd.uniform(0, 5)]),
            platform=rnd.choice(platforms),
            chip=chip,
            collateral=rnd.choice([0.0, 1000.0, 50_000.0]),
            outstanding=outstanding,
            quarantined="alarm" if rnd.random() < 0.05 else None,
        )
        hosts.append(chips[chip])
    requests = [
        _request(
            round(10 ** rnd.uniform(1, 3.7)),
            replicas=rnd.randint(1, 4),
            budget=rnd.choice([500, 5000, 50_000]),
            keeps_per_year=Rate(rnd.choice([1, 12, 365]), YEAR),
            tenant=f"t{rnd.randint(0, 3)}",
            dep=f"d{n}",
        )
        for n in range(25)
    ]
    guard = GuardConfig()
    decisions = PlacementEngine(hosts, PlacementConfig(guard=guard)).place(requests)
    got = [d.host_id if d.placed else None for d in decisions]
    assert got == _brute_force(hosts, requests, guard)
    assert any(got) and None in got  # the case exercises both outcomes


def test_candidate_from_claims_and_book() -> None:
    from elsewhere.claims import Claims, Tee, Vendor
    from elsewhere.risk.reputation import Event, EventKind, ReputationBook

    claims = Claims(
        vendor=Vendor.AMD,
        tee=Tee.SEV_SNP,
        generation="Genoa",
        report_version=3,
        signer="VCEK",
        debug=False,
        smt=False,
        report_data="00" * 64,
        chip_id="AB" * 32,
    )
    book = ReputationBook()
    key = book.key_for("old-name", claims.chip_id)
    book.record(key, Event(EventKind.KEEP_COMPLETED, T0, Money(500, "USD")))
    host = HostCandidate.from_claims("new-name", claims, book, T0)
    assert host.reputation.key == "chip:" + "ab" * 32 and host.reputation.max_good == 500.0
    assert place([host], [_request(200)])[0].placed  # κ·500 = 250 of exit room


def test_hosts_without_records_under_a_trial_allowance() -> None:
    hosts = [_host("a", chip="a"), _host("b", chip="b", quarantined="alarm")]
    config = PlacementConfig(guard=GuardConfig(trial_allowance=50))
    placed, refused = PlacementEngine(hosts, config).place([_request(40), _request(60)])
    assert placed.placed and placed.host_id == "a"
    assert placed.evidence == (0.0, 0.0, pytest.approx(0.95))
    assert {r.reason for r in refused.refusals} == {
        Reason.GROWTH_CAP,
        Reason.QUARANTINED,
        Reason.EXIT_CAP,
    }


@settings(max_examples=40, deadline=None)
@given(
    goods=st.dictionaries(
        st.sampled_from([5.0, 50.0, 500.0, 5000.0]), st.floats(0.1, 50.0), max_size=4
    ),
    bad=st.floats(0.0, 20.0),
    extra=st.floats(0.01, 20.0),
    value=st.sampled_from([10.0, 400.0, 3000.0]),
)
def test_more_failures_never_lower_the_risk_or_admit_a_refused_host(
    goods: dict[float, float], bad: float, extra: float, value: float
) -> None:
    config = PlacementConfig(guard=GuardConfig(trial_allowance=20))
    before = place([_host("h", goods, bad=bad)], [_request(value, budget=500)], config)[0]
    after = place([_host("h", goods, bad=bad + extra)], [_request(value, budget=500)], config)[0]
    assert before.placed or not after.placed
    if before.risk is not None and after.risk is not None:
        assert after.risk.amount >= before.risk.amount
