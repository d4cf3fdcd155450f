"""Host reputation: Beta evidence from real events, with asymmetric forgetting and a penalty.

Reputation belongs to a *key*: "chip:<chip id>" for a host whose evidence names its chip,
"host:<host id>" otherwise. A host that re-registers under a new name on the same chip keeps
its past. Events, by kind, are good (a completed keep, weighted by its value) or bad (weighted
per kind; a TCB lower than previously seen on the same chip weighs most).

At time t an event from time tᵢ weighs wᵢ = 2^(−(t − tᵢ)/τ), with τ₊ = 180 days for good events
and τ₋ = 720 days for bad ones: failures are forgotten four times more slowly than successes.
For a request of value V the evidence is value-relative (the long-game guard):

    r_V = Σ wᵢ · min(1, vᵢ / V)   over completed keeps
    s   = PF · Σ wᵢ · weightᵢ     over bad events (not discounted by value), PF = 2

and exposure decisions use the upper credible bound on the failure probability,
q = Beta(s + 1, r_V + 1).ppf(confidence), never the mean (r + 1)/(r + s + 2).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from elsewhere.errors import ConfigError, InputError
from elsewhere.risk.beta import upper_bound
from elsewhere.risk.cusum import BernoulliCusum, CusumConfig
from elsewhere.risk.quantities import CurrencyMismatch, Money, parse_money
from elsewhere.timeutil import iso, parse_time


class EventKind(StrEnum):
    KEEP_COMPLETED = "keep_completed"
    KEEP_LOST = "keep_lost"
    ATTESTATION_REFUSED = "attestation_refused"
    TCB_ROLLBACK = "tcb_rollback"
    MEASUREMENT_CHURN = "measurement_churn"
    HEARTBEAT_MISSED = "heartbeat_missed"
    TENANT_REPORT = "tenant_report"


# Bad-event weights [E]: one lost keep = 1. A TCB rollback on the same chip is a strong sign of
# a downgrade; churn and missed heartbeats are weak (updates and networks cause them too).
DEFAULT_BAD_WEIGHTS: Mapping[EventKind, float] = MappingProxyType(
    {
        EventKind.KEEP_LOST: 1.0,
        EventKind.ATTESTATION_REFUSED: 1.0,
        EventKind.TCB_ROLLBACK: 10.0,
        EventKind.MEASUREMENT_CHURN: 0.25,
        EventKind.HEARTBEAT_MISSED: 0.1,
        EventKind.TENANT_REPORT: 1.0,
    }
)
# Keep outcomes the CUSUM detector watches (churn and heartbeats are not keep outcomes).
CUSUM_BAD = frozenset(
    {
        EventKind.KEEP_LOST,
        EventKind.ATTESTATION_REFUSED,
        EventKind.TCB_ROLLBACK,
        EventKind.TENANT_REPORT,
    }
)


# Bounds on an aggregate's figures: a decayed count of events beyond a billion, or an amount
# beyond a quadrillion (quantities.MAX_AMOUNT), is a typo or an attack, not a record.
# A completed keep's value is positive, and no smaller than quantities.MIN_AMOUNT.
MAX_WEIGHT, MAX_VALUE, MIN_KEEP_VALUE = 1e9, 1e15, 1e-9


def _figure(value: Any, where: str, limit: float, low: float = 0.0) -> float:
    """A number in [low, limit] (bool is not a number here)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError("reputation", where, "expected a number")
    if not (math.isfinite(value) and low <= value <= limit):
        raise InputError("reputation", where, f"expected a number in [{low:g}, {limit:g}]")
    return float(value)


def reputation_key(host_id: str, chip_id: str | None) -> str:
    return f"chip:{chip_id.lower()}" if chip_id else f"host:{host_id}"


@dataclass(frozen=True)
class Event:
    kind: EventKind
    at: dt.datetime
    value: Money | None = None  # the keep's value (required for keep_completed)
    note: str = ""

    def __post_init__(self) -> None:
        if self.kind is EventKind.KEEP_COMPLETED and (self.value is None or self.value.amount <= 0):
            raise InputError("event", self.kind.value, "a completed keep needs a positive value")

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"kind": self.kind.value, "at": iso(self.at)}
        if self.value is not None:
            doc["value"] = self.value.to_json()
        if self.note:
            doc["note"] = self.note
        return doc

    @classmethod
    def from_json(cls, doc: Any, where: str) -> Event:
        if not isinstance(doc, dict):
            raise InputError("event", where, "expected an object")
        try:
            kind = EventKind(str(doc.get("kind")))
        except ValueError:
            kinds = ", ".join(k.value for k in EventKind)
            raise InputError("event", f"{where}.kind", f"expected one of {kinds}") from None
        if not isinstance(doc.get("at"), str):
            raise InputError("event", f"{where}.at", "expected an ISO 8601 time")
        value = parse_money(doc["value"], f"{where}.value") if "value" in doc else None
        return cls(
            kind, parse_time(doc["at"], where=f"{where}.at"), value, str(doc.get("note", ""))
        )


@dataclass(frozen=True)
class ReputationConfig:
    tau_good_days: float | None = 180.0  # None: never forget
    tau_bad_days: float | None = 720.0
    penalty: float = 2.0
    confidence: float = 0.95
    bad_weights: Mapping[EventKind, float] = field(default_factory=lambda: DEFAULT_BAD_WEIGHTS)

    def __post_init__(self) -> None:
        if not 0.5 <= self.confidence < 1.0:
            raise ConfigError("reputation", "confidence", f"{self.confidence} not in [0.5, 1)")
        if self.penalty < 1.0:
            raise ConfigError("reputation", "penalty", f"{self.penalty} < 1 rewards failures")
        for name in ("tau_good_days", "tau_bad_days"):
            tau = getattr(self, name)
            if tau is not None and not tau > 0:
                raise ConfigError("reputation", name, f"{tau} is not positive")

    def decay(self, tau_days: float | None, age: dt.timedelta) -> float:
        if tau_days is None:
            return 1.0
        days = max(age.total_seconds(), 0.0) / 86_400.0
        return math.exp2(-days / tau_days)


@dataclass(frozen=True)
class ReputationSnapshot:
    """A key's evidence at one moment, in the form placement consumes (floats, one currency).

    `good` is ((value, decayed weight), ...) merged by value and sorted; `bad` is s (penalty
    applied); `delivered` is Σ decayed good value; `max_good` the largest completed keep.
    """

    key: str
    at: dt.datetime
    currency: str | None
    good: tuple[tuple[float, float], ...]
    bad: float
    delivered: float
    max_good: float
    confidence: float
    quarantined: str | None = None

    def evidence(self, value: float) -> tuple[float, float]:
        """(r_V, s) for a request of `value`."""
        if value <= 0:
            return (sum(w for _, w in self.good), self.bad)
        return (sum(w * min(1.0, v / value) for v, w in self.good), self.bad)

    def upper_bound(self, value: float) -> float:
        r, s = self.evidence(value)
        return upper_bound(r, s, self.confidence)

    def seen_at(self, value: float) -> ReputationSnapshot:
        """This evidence as a request of `value` needs it, and no more: good evidence as one
        entry (value, r_V) and the largest keep clamped to `value`, so no single keep's value
        shows. The bound and the growth cap at `value` are unchanged; at any other value it
        gives no more evidence and no more room than the full record (never looser)."""
        r, _ = self.evidence(value)
        return replace(
            self, good=((value, r),) if r > 0 else (), max_good=min(self.max_good, value)
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "currency": self.currency,
            "good": [[value, weight] for value, weight in self.good],
            "bad": self.bad,
            "delivered": self.delivered,
            "max_good": self.max_good,
        }

    @classmethod
    def from_json(
        cls,
        doc: Any,
        where: str,
        key: str,
        at: dt.datetime,
        confidence: float,
        quarantined: str | None,
    ) -> ReputationSnapshot:
        if not isinstance(doc, dict):
            raise InputError("reputation", where, "expected an object")
        currency = doc.get("currency")
        if currency is not None and not isinstance(currency, str):
            raise InputError("reputation", f"{where}.currency", "expected a currency code")
        good = doc.get("good", [])
        if not isinstance(good, list) or not all(
            isinstance(pair, list) and len(pair) == 2 for pair in good
        ):
            raise InputError("reputation", f"{where}.good", "expected [value, weight] pairs")
        pairs = tuple(
            (
                _figure(v, f"{where}.good[{i}][0]", MAX_VALUE, MIN_KEEP_VALUE),
                _figure(w, f"{where}.good[{i}][1]", MAX_WEIGHT),
            )
            for i, (v, w) in enumerate(good)
        )
        return cls(
            key=key,
            at=at,
            currency=currency,
            good=pairs,
            bad=_figure(doc.get("bad", 0), f"{where}.bad", MAX_WEIGHT),
            delivered=_figure(doc.get("delivered", 0), f"{where}.delivered", MAX_VALUE),
            max_good=_figure(doc.get("max_good", 0), f"{where}.max_good", MAX_VALUE),
            confidence=confidence,
            quarantined=quarantined,
        )

    def mean_success(self) -> float:
        """E = (r + 1)/(r + s + 2), with r unweighted by value (shown, never used to size)."""
        r = sum(w for _, w in self.good)
        return (r + 1.0) / (r + self.bad + 2.0)


@dataclass
class _Record:
    events: list[Event] = field(default_factory=list)
    currency: str | None = None
    max_good: float = 0.0
    tcb_seen: dict[str, int] = field(default_factory=dict)
    measurements: dict[str, str] = field(default_factory=dict)
    cusum: BernoulliCusum = field(default_factory=BernoulliCusum)
    quarantined: str | None = None


class ReputationBook:
    """Every key's events, TCB high-water marks, CUSUM detector and quarantine state."""

    def __init__(
        self, config: ReputationConfig | None = None, cusum: CusumConfig | None = None
    ) -> None:
        self.config = config or ReputationConfig()
        self.cusum_config = cusum or CusumConfig()
        self._records: dict[str, _Record] = {}
        self._chip_of_host: dict[str, str] = {}

    def key_for(self, host_id: str, chip_id: str | None = None) -> str:
        """The reputation key; a host once seen on a chip stays on that chip's key."""
        if chip_id:
            self._chip_of_host[host_id] = chip_id
        return reputation_key(host_id, chip_id or self._chip_of_host.get(host_id))

    def _record(self, key: str) -> _Record:
        record = self._records.get(key)
        if record is None:
            record = self._records[key] = _Record(cusum=BernoulliCusum(self.cusum_config))
        return record

    def record(self, key: str, event: Event) -> bool:
        """Add an event; True when it raised the CUSUM alarm (the key is then quarantined)."""
        record = self._record(key)
        if event.value is not None:
            if record.currency is None:
                record.currency = event.value.currency
            elif event.value.currency != record.currency:
                raise CurrencyMismatch("record", record.currency, event.value.currency)
        record.events.append(event)
        if event.kind is EventKind.KEEP_COMPLETED and event.value is not None:
            record.max_good = max(record.max_good, float(event.value.amount))
        alarm = False
        if event.kind is EventKind.KEEP_COMPLETED or event.kind in CUSUM_BAD:
            alarm = record.cusum.update(event.kind in CUSUM_BAD)
        if alarm and record.quarantined is None:
            stat = record.cusum.statistic
            record.quarantined = (
                f"CUSUM alarm at outcome {record.cusum.count} ({iso(event.at)}): "
                f"S={stat:.3f} > h={self.cusum_config.h}"
            )
        return alarm

    def observe_attestation(
        self,
        host_id: str,
        chip_id: str | None,
        at: dt.datetime,
        *,
        tcb: Mapping[str, int] | None = None,
        measurements: Mapping[str, str] | None = None,
        accepted: bool = True,
    ) -> list[Event]:
        """Turn one attestation into events: refusal, TCB rollback on the chip, churn."""
        key = self.key_for(host_id, chip_id)
        record = self._record(key)
        events: list[Event] = []
        if not accepted:
            events.append(Event(EventKind.ATTESTATION_REFUSED, at))
        lower = [
            f"{name} {value} < {record.tcb_seen[name]}"
            for name, value in (tcb or {}).items()
            if name in record.tcb_seen and value < record.tcb_seen[name]
        ]
        if lower and chip_id:
            events.append(Event(EventKind.TCB_ROLLBACK, at, note="; ".join(lower)))
        for name, value in (tcb or {}).items():
            record.tcb_seen[name] = max(value, record.tcb_seen.get(name, value))
        if measurements:
            changed = sorted(
                n for n, v in measurements.items() if record.measurements.get(n, v) != v
            )
            if changed:
                events.append(Event(EventKind.MEASUREMENT_CHURN, at, note=", ".join(changed)))
            record.measurements.update(measurements)
        for event in events:
            self.record(key, event)
        return events

    def quarantine(self, key: str, reason: str) -> None:
        self._record(key).quarantined = reason

    def release(self, key: str) -> None:
        """Lift a quarantine (an operator's decision); the CUSUM restarts from zero."""
        record = self._record(key)
        record.quarantined = None
        record.cusum = BernoulliCusum(self.cusum_config)

    def events(self, key: str) -> tuple[Event, ...]:
        return tuple(self._records[key].events) if key in self._records else ()

    def snapshot(self, key: str, at: dt.datetime) -> ReputationSnapshot:
        record = self._records.get(key) or _Record()
        return snapshot_of(key, record.events, at, self.config, record.quarantined)


def snapshot_of(
    key: str,
    events: list[Event] | tuple[Event, ...],
    at: dt.datetime,
    config: ReputationConfig,
    quarantined: str | None = None,
) -> ReputationSnapshot:
    """Fold events into decayed evidence as of `at` (events after `at` are ignored)."""
    good: dict[float, float] = {}
    bad = delivered = max_good = 0.0
    currency: str | None = None
    for event in events:
        if event.at > at:
            continue
        if event.value is not None:
            if currency is not None and event.value.currency != currency:
                raise CurrencyMismatch("combine", currency, event.value.currency)
            currency = event.value.currency
        age = at - event.at
        if event.kind is EventKind.KEEP_COMPLETED and event.value is not None:
            value = float(event.value.amount)
            weight = config.decay(config.tau_good_days, age)
            good[value] = good.get(value, 0.0) + weight
            delivered += weight * value
            max_good = max(max_good, value)
        elif event.kind in config.bad_weights:
            weight = config.bad_weights[event.kind] * config.decay(config.tau_bad_days, age)
            bad += config.penalty * weight
    return ReputationSnapshot(
        key=key,
        at=at,
        currency=currency,
        good=tuple(sorted(good.items())),
        bad=bad,
        delivered=delivered,
        max_good=max_good,
        confidence=config.confidence,
        quarantined=quarantined,
    )
