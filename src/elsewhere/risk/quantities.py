"""Typed quantities: money in one currency, rates per period, and the rules for combining them.

Risk compares only like with like. Money adds to money of the same currency; a rate (expected
events per period) times money is a money rate for that period (risk per year, a budget per
year); money rates compare and add only when currency and period agree. Anything else raises
`CurrencyMismatch` or `PeriodMismatch` — there is no silent conversion. Converting between time
periods is explicit (`Rate.per(YEAR)`, `MoneyRate.annualised()`); a per-keep (per-transaction)
quantity has no length in time, so it becomes annual only with a count of keeps per year
(`Rate.over(keeps_per_year)`).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from elsewhere.errors import ElsewhereError, InputError

Number = Decimal | int | float | str


class QuantityError(ElsewhereError):
    """Quantities that cannot be combined as asked."""


class CurrencyMismatch(QuantityError):
    def __init__(self, op: str, left: str, right: str) -> None:
        self.left, self.right = left, right
        super().__init__(
            f"cannot {op} {left} and {right}: amounts in different currencies; convert one "
            "explicitly first"
        )


class PeriodMismatch(QuantityError):
    def __init__(self, op: str, left: Period, right: Period, hint: str = "") -> None:
        self.left, self.right = left, right
        tail = f"; {hint}" if hint else "; convert one explicitly first (e.g. .annualised())"
        super().__init__(f"cannot {op} a quantity per {left} and one per {right}{tail}")


def to_decimal(value: Number, where: str = "amount") -> Decimal:
    """Decimal from a str, int, Decimal or float (floats via repr, so 0.005 is 0.005)."""
    try:
        result = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except (InvalidOperation, ValueError, TypeError):
        raise InputError("number", where, f"{value!r} is not a number") from None
    if not result.is_finite():
        raise InputError("number", where, f"{value!r} is not a finite number")
    return result


def plain(value: Decimal) -> str:
    """A decimal without exponent or trailing zeros: 0.0050 → '0.005', 1E+1 → '10'."""
    return format(value.normalize(), "f")


@dataclass(frozen=True)
class Period:
    """A period rates are counted over. `per_year` is how many fit in a year; None for 'keep'."""

    name: str
    per_year: Fraction | None

    def __str__(self) -> str:
        return self.name

    @property
    def is_time(self) -> bool:
        return self.per_year is not None


DAY = Period("day", Fraction(365))
WEEK = Period("week", Fraction(365, 7))
MONTH = Period("month", Fraction(12))
QUARTER = Period("quarter", Fraction(4))
YEAR = Period("year", Fraction(1))
KEEP = Period("keep", None)  # one keep (job, transaction): not a length of time
PERIODS = {p.name: p for p in (DAY, WEEK, MONTH, QUARTER, YEAR, KEEP)}


def parse_period(text: str, where: str = "per") -> Period:
    period = PERIODS.get(text.strip().lower())
    if period is None:
        raise InputError("period", where, f"{text!r} is not one of {', '.join(PERIODS)}")
    return period


def _ratio(source: Period, target: Period, op: str) -> Decimal:
    if source.per_year is None or target.per_year is None:
        if source == target:
            return Decimal(1)
        raise PeriodMismatch(
            op,
            source,
            target,
            "a per-keep quantity becomes per year only with a count of keeps per year "
            "(Rate.over(keeps_per_year))",
        )
    ratio = source.per_year / target.per_year
    return Decimal(ratio.numerator) / Decimal(ratio.denominator)


@dataclass(frozen=True, init=False)
class Money:
    amount: Decimal
    currency: str

    def __init__(self, amount: Number, currency: str) -> None:
        if not isinstance(currency, str) or not currency.strip():
            raise InputError("money", "currency", "a currency code is required")
        object.__setattr__(self, "amount", to_decimal(amount))
        object.__setattr__(self, "currency", currency.strip().upper())

    def _check(self, other: Money, op: str) -> None:
        if not isinstance(other, Money):
            raise QuantityError(f"cannot {op} money and {type(other).__name__}")
        if other.currency != self.currency:
            raise CurrencyMismatch(op, str(self), str(other))

    def __add__(self, other: Money) -> Money:
        self._check(other, "add")
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._check(other, "subtract")
        return Money(self.amount - other.amount, self.currency)

    def __mul__(self, other: Any) -> Any:
        if isinstance(other, Rate):
            return other * self
        if isinstance(other, Money | MoneyRate):
            raise QuantityError(f"cannot multiply {self} by {other}")
        return Money(self.amount * to_decimal(other, "factor"), self.currency)

    __rmul__ = __mul__

    def __lt__(self, other: Money) -> bool:
        self._check(other, "compare")
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._check(other, "compare")
        return self.amount <= other.amount

    def __gt__(self, other: Money) -> bool:
        self._check(other, "compare")
        return self.amount > other.amount

    def __ge__(self, other: Money) -> bool:
        self._check(other, "compare")
        return self.amount >= other.amount

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"

    def to_json(self) -> dict[str, str]:
        return {"amount": plain(self.amount), "currency": self.currency}


@dataclass(frozen=True, init=False)
class Rate:
    """Expected events per period (likelihood of compromise per year, failures per keep...)."""

    value: Decimal
    period: Period

    def __init__(self, value: Number, period: Period) -> None:
        number = to_decimal(value, "rate")
        if number < 0:
            raise InputError("rate", "value", f"{number} is negative")
        object.__setattr__(self, "value", number)
        object.__setattr__(self, "period", period)

    def per(self, target: Period) -> Rate:
        """The same rate counted over another time period (per day → per year: × 365)."""
        return Rate(self.value * _ratio(self.period, target, "convert"), target)

    def annualised(self) -> Rate:
        return self.per(YEAR)

    def over(self, count: Rate) -> Rate:
        """A per-keep rate over `count` keeps per period: LEF = keeps per year × q."""
        if self.period != KEEP:
            raise PeriodMismatch("scale by a keep count", self.period, KEEP, "only per-keep rates")
        if count.period == KEEP:
            raise PeriodMismatch("scale by a keep count", count.period, YEAR, "count per time")
        return Rate(self.value * count.value, count.period)

    def __add__(self, other: Rate) -> Rate:
        if not isinstance(other, Rate):
            raise QuantityError(f"cannot add a rate and {type(other).__name__}")
        if other.period != self.period:
            raise PeriodMismatch("add", self.period, other.period)
        return Rate(self.value + other.value, self.period)

    def __mul__(self, other: Any) -> Any:
        if isinstance(other, Money):
            return MoneyRate(Money(other.amount * self.value, other.currency), self.period)
        if isinstance(other, Rate | MoneyRate):
            raise QuantityError(f"cannot multiply a rate by {type(other).__name__}")
        return Rate(self.value * to_decimal(other, "factor"), self.period)

    __rmul__ = __mul__

    def __str__(self) -> str:
        return f"{self.value} per {self.period}"

    def to_json(self) -> dict[str, str]:
        return {"value": plain(self.value), "per": self.period.name}


@dataclass(frozen=True)
class MoneyRate:
    """Money per period: a risk (annualised loss expectancy) or a risk budget."""

    money: Money
    period: Period

    @classmethod
    def of(cls, amount: Number, currency: str, period: Period) -> MoneyRate:
        return cls(Money(to_decimal(amount), currency), period)

    @property
    def amount(self) -> Decimal:
        return self.money.amount

    @property
    def currency(self) -> str:
        return self.money.currency

    def _check(self, other: MoneyRate, op: str) -> None:
        if not isinstance(other, MoneyRate):
            raise QuantityError(f"cannot {op} money per {self.period} and {other!r}")
        if other.period != self.period:
            raise PeriodMismatch(op, self.period, other.period)
        if other.currency != self.currency:
            raise CurrencyMismatch(op, str(self), str(other))

    def per(self, target: Period) -> MoneyRate:
        return MoneyRate(self.money * _ratio(self.period, target, "convert"), target)

    def annualised(self) -> MoneyRate:
        return self.per(YEAR)

    def __add__(self, other: MoneyRate) -> MoneyRate:
        self._check(other, "add")
        return MoneyRate(self.money + other.money, self.period)

    def __sub__(self, other: MoneyRate) -> MoneyRate:
        self._check(other, "subtract")
        return MoneyRate(self.money - other.money, self.period)

    def __lt__(self, other: MoneyRate) -> bool:
        self._check(other, "compare")
        return self.amount < other.amount

    def __le__(self, other: MoneyRate) -> bool:
        self._check(other, "compare")
        return self.amount <= other.amount

    def __gt__(self, other: MoneyRate) -> bool:
        self._check(other, "compare")
        return self.amount > other.amount

    def __ge__(self, other: MoneyRate) -> bool:
        self._check(other, "compare")
        return self.amount >= other.amount

    def __str__(self) -> str:
        return f"{self.money} per {self.period}"

    def to_json(self) -> dict[str, str]:
        return {**self.money.to_json(), "per": self.period.name}


def single_loss(asset_value: Money, exposure_factor: Number) -> Money:
    """SLE = AV × EF (the share of the asset's value one incident destroys)."""
    factor = to_decimal(exposure_factor, "exposure factor")
    if not Decimal(0) <= factor <= Decimal(1):
        raise InputError("exposure factor", "", f"{factor} is not between 0 and 1")
    return Money(asset_value.amount * factor, asset_value.currency)


MAX_AMOUNT = Decimal(10) ** 15  # a quadrillion: beyond it a figure is a typo, not a value
MIN_AMOUNT = Decimal(10) ** -9


def in_range(value: Decimal, what: str, where: str) -> Decimal:
    """Refuse magnitudes the float arithmetic of placement cannot carry faithfully."""
    if abs(value) > MAX_AMOUNT or Decimal(0) < abs(value) < MIN_AMOUNT:
        raise InputError(what, where, f"{value} is outside ±[1e-9, 1e15]")
    return value


def parse_money(doc: Any, where: str, currency: str | None = None) -> Money:
    """Money from {"amount": "55000", "currency": "GBP"}, or a bare number with `currency`."""
    if isinstance(doc, dict):
        if "amount" not in doc:
            raise InputError("money", where, "needs 'amount'")
        cur = doc.get("currency", currency)
        if not isinstance(cur, str):
            raise InputError("money", where, "needs 'currency'")
        return Money(in_range(to_decimal(doc["amount"], where), "money", where), cur)
    if currency is None or isinstance(doc, bool) or not isinstance(doc, int | float | str):
        raise InputError("money", where, "expected {amount, currency}")
    return Money(in_range(to_decimal(doc, where), "money", where), currency)


def parse_money_rate(doc: Any, where: str, currency: str | None = None) -> MoneyRate:
    if not isinstance(doc, dict) or "per" not in doc:
        raise InputError("money rate", where, "expected {amount, currency, per}")
    return MoneyRate(parse_money(doc, where, currency), parse_period(str(doc["per"]), where))


def parse_rate(doc: Any, where: str, default_period: Period = YEAR) -> Rate:
    if isinstance(doc, dict):
        if "value" not in doc:
            raise InputError("rate", where, "needs 'value'")
        per = parse_period(str(doc["per"]), where) if "per" in doc else default_period
        return Rate(in_range(to_decimal(doc["value"], where), "rate", where), per)
    if isinstance(doc, bool) or not isinstance(doc, int | float | str):
        raise InputError("rate", where, "expected a number or {value, per}")
    return Rate(in_range(to_decimal(doc, where), "rate", where), default_period)
