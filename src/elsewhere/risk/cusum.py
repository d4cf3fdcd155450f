"""Bernoulli CUSUM on keep outcomes (Page 1954; Reynolds & Stoumbos 1999).

S ← max(0, S + ln(p1/p0)) after a bad outcome, S ← max(0, S + ln((1−p1)/(1−p0))) after a good
one; alarm when S > h. p0 is the failure rate of an honest host, p1 the rate worth catching.
With the defaults (p0 = 0.01, p1 = 0.10, h = 3.0) a bad outcome adds 2.3026 and a good one
takes 0.0953 away, so two failures within ~8 keeps of each other raise the alarm; the
research note's Monte Carlo puts the in-control average run length near 738 keeps (E4).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from elsewhere.errors import ConfigError


@dataclass(frozen=True)
class CusumConfig:
    p0: float = 0.01
    p1: float = 0.10
    h: float = 3.0

    def __post_init__(self) -> None:
        if not (0.0 < self.p0 < self.p1 < 1.0):
            raise ConfigError("cusum", "p0, p1", f"need 0 < p0 < p1 < 1, got {self.p0}, {self.p1}")
        if not self.h > 0.0:
            raise ConfigError("cusum", "h", f"need h > 0, got {self.h}")

    @property
    def bad_step(self) -> float:
        return math.log(self.p1 / self.p0)

    @property
    def good_step(self) -> float:
        return math.log((1.0 - self.p1) / (1.0 - self.p0))


class BernoulliCusum:
    """One detector per reputation key. `alarm_at` is the 1-based outcome count of the alarm."""

    def __init__(self, config: CusumConfig | None = None) -> None:
        self.config = config or CusumConfig()
        self.statistic = 0.0
        self.count = 0
        self.alarm_at: int | None = None

    @property
    def alarmed(self) -> bool:
        return self.alarm_at is not None

    def update(self, bad: bool) -> bool:
        """Add one outcome; True when this outcome raises the alarm (only the first time)."""
        step = self.config.bad_step if bad else self.config.good_step
        self.statistic = max(0.0, self.statistic + step)
        self.count += 1
        if self.alarm_at is None and self.statistic > self.config.h:
            self.alarm_at = self.count
            return True
        return False
