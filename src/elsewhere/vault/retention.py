"""Retention rules: "erase at age N" (years, from the subject's date of birth) and "erase N days
after the last use", each for a purpose (every subject with records for it) or one subject.

A rule is written `age:13` or `idle:30d`. `cutoff` turns a rule into the instant a subject's
date of birth or last use must be before for the rule to apply now; the sweep
(control/vault/retention.py) asks the store for those subjects in one statement per rule.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import StrEnum

from elsewhere.errors import InputError

_RULE = re.compile(r"^(age):([0-9]{1,3})$|^(idle):([0-9]{1,5})d$")


class RuleKind(StrEnum):
    AGE = "age"  # amount in years, from the date of birth
    IDLE = "idle"  # amount in days, from the last use (a put or a release)


class Scope(StrEnum):
    PURPOSE = "purpose"
    SUBJECT = "subject"


@dataclass(frozen=True)
class Rule:
    kind: RuleKind
    amount: int

    @classmethod
    def parse(cls, text: str) -> Rule:
        match = _RULE.match(text.strip())
        if match is None:
            raise InputError("retention rule", repr(text)[:40], "expected age:YEARS or idle:DAYSd")
        if match.group(1):
            return cls(RuleKind.AGE, int(match.group(2)))
        days = int(match.group(4))
        if days < 1:
            raise InputError("retention rule", text, "idle needs at least 1 day")
        return cls(RuleKind.IDLE, days)

    def __str__(self) -> str:
        return f"age:{self.amount}" if self.kind is RuleKind.AGE else f"idle:{self.amount}d"

    def cutoff(self, now: dt.datetime) -> dt.datetime:
        """Subjects born (AGE) or last used (IDLE) before this instant are due."""
        if self.kind is RuleKind.IDLE:
            return now - dt.timedelta(days=self.amount)
        # N years before today; 29 February falls back to 28 February.
        year = now.year - self.amount
        try:
            return now.replace(year=year)
        except ValueError:
            return now.replace(year=year, day=28)


def parse_birth_date(text: str | None) -> dt.date | None:
    if text is None or text == "":
        return None
    try:
        born = dt.date.fromisoformat(text)
    except ValueError:
        raise InputError("date of birth", repr(text)[:20], "expected YYYY-MM-DD") from None
    if born.year < 1850 or born > dt.date.today() + dt.timedelta(days=1):
        raise InputError("date of birth", text, "not a plausible date")
    return born
