"""Cheap, rigorous brackets on the upper credible bound q(r, s), for pruning placement.

q(r, s) = Beta(s + 1, r + 1).ppf(confidence) falls as good evidence r grows and rises with bad
evidence s. On a geometric grid (ratio 1.2) the exact q at the grid corner (r rounded down,
s rounded up) is an upper bound, and at (r rounded up, s rounded down) a lower bound. Placement
uses these brackets to discard hosts that cannot be the least risky, and computes q exactly
only for the few that can. Grid cells are computed on first use and kept for the process.
"""

from __future__ import annotations

import math

import numpy as np

from elsewhere.risk.betaq import FloatArray, upper_bound_array

_RATIO = 1.2  # coarse: fewer cells to compute on first use; exact q settles the rest
_START = 1e-2
_R_MAX = 1e7
_S_MAX = 1e6


def _grid(top: float) -> FloatArray:
    count = math.ceil(math.log(top / _START) / math.log(_RATIO)) + 1
    return np.concatenate(([0.0], _START * _RATIO ** np.arange(count)))


class BoundTable:
    def __init__(self, confidence: float) -> None:
        self.confidence = confidence
        self.r_grid = _grid(_R_MAX)
        self.s_grid = _grid(_S_MAX)
        self._q = np.full((len(self.s_grid), len(self.r_grid)), np.nan)

    @staticmethod
    def _floor_index(grid: FloatArray, x: FloatArray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            guess = np.where(x < _START, 0, 1 + np.floor(np.log(x / _START) / math.log(_RATIO)))
        k = np.clip(np.nan_to_num(guess, nan=0.0), 0, len(grid) - 1).astype(np.int64)
        k -= grid[k] > x  # float rounding in the log can overshoot by one
        k = np.maximum(k, 0)
        k += (k + 1 < len(grid)) & (grid[np.minimum(k + 1, len(grid) - 1)] <= x)
        result: np.ndarray = k
        return result

    def _lookup(self, si: np.ndarray, ri: np.ndarray) -> FloatArray:
        values = self._q[si, ri]
        missing = np.isnan(values)
        if missing.any():
            pairs = np.unique(np.stack([si[missing], ri[missing]]), axis=1)
            computed = upper_bound_array(
                self.r_grid[pairs[1]], self.s_grid[pairs[0]], self.confidence
            )
            self._q[pairs[0], pairs[1]] = computed
            values = self._q[si, ri]
        result: FloatArray = values
        return result

    def bracket(self, r: FloatArray, s: FloatArray) -> tuple[FloatArray, FloatArray]:
        """(lower, upper) with lower ≤ q(r, s) ≤ upper, element by element."""
        rf = self._floor_index(self.r_grid, r)
        sf = self._floor_index(self.s_grid, s)
        r_last, s_last = len(self.r_grid) - 1, len(self.s_grid) - 1
        rc = rf + (self.r_grid[rf] < r)  # may be r_last + 1: beyond the grid
        sc = sf + (self.s_grid[sf] < s)
        upper = np.ones_like(r)
        inside = sc <= s_last
        upper[inside] = self._lookup(sc[inside], rf[inside])
        lower = np.zeros_like(r)
        inside = rc <= r_last
        lower[inside] = self._lookup(sf[inside], rc[inside])
        return lower, upper


_TABLES: dict[float, BoundTable] = {}


def bound_table(confidence: float) -> BoundTable:
    table = _TABLES.get(confidence)
    if table is None:
        table = _TABLES[confidence] = BoundTable(confidence)
    return table
