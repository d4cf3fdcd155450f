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

from elsewhere.risk.beta import FloatArray, upper_bound_array

_RATIO = 1.2  # coarse: fewer cells to compute on first use; exact q settles the rest
_START = 1e-2
_R_MAX = 1e7
_S_MAX = 1e6
_LOG_RATIO = math.log(_RATIO)


def _grid(top: float) -> FloatArray:
    count = math.ceil(math.log(top / _START) / math.log(_RATIO)) + 1
    return np.concatenate(([0.0], _START * _RATIO ** np.arange(count)))


def _ceil_index(grid: FloatArray, x: FloatArray) -> np.ndarray:
    """A k with grid[k] ≥ x (len(grid) beyond the grid), by logarithm.

    The 1e-9 margin dwarfs float error in the logarithm, so grid[k] ≥ x always holds; near a
    grid point it may give the next cell, which only loosens the bound. (numpy's searchsorted
    is several times slower on unsorted queries.)
    """
    x = np.asarray(x, dtype=np.float64)
    steps = np.ceil(np.log(np.maximum(x, _START) * (1.0 / _START)) / _LOG_RATIO + 1e-9)
    result: np.ndarray = np.where(x > 0.0, np.minimum(steps + 1.0, len(grid)), 0.0).astype(np.int64)
    return result


def _floor_index(grid: FloatArray, x: FloatArray) -> np.ndarray:
    """A k with grid[k] ≤ x (grid[0] = 0 ≤ every x), by logarithm with the same margin."""
    x = np.asarray(x, dtype=np.float64)
    steps = np.floor(np.log(np.maximum(x, _START) * (1.0 / _START)) / _LOG_RATIO - 1e-9)
    result: np.ndarray = np.where(
        x >= _START, np.clip(steps + 1.0, 0.0, len(grid) - 1), 0.0
    ).astype(np.int64)
    return result


class BoundTable:
    def __init__(self, confidence: float) -> None:
        self.confidence = confidence
        self.r_grid = _grid(_R_MAX)
        self.s_grid = _grid(_S_MAX)
        # one extra column: r beyond the grid, where the lower bound is 0
        self._q = np.full((len(self.s_grid), len(self.r_grid) + 1), np.nan)
        self._q[:, -1] = 0.0

    def s_floor(self, s: FloatArray) -> np.ndarray:
        """Index of the largest grid s ≤ each value (the grid starts at 0)."""
        return _floor_index(self.s_grid, s)

    def _lookup(self, si: np.ndarray, ri: np.ndarray) -> FloatArray:
        values = self._q[si, ri]
        missing = np.isnan(values)
        if missing.any():  # only grid cells: the extra column is never missing
            pairs = np.unique(np.stack([si[missing], ri[missing]]), axis=1)
            computed = upper_bound_array(
                self.r_grid[pairs[1]], self.s_grid[pairs[0]], self.confidence
            )
            self._q[pairs[0], pairs[1]] = computed
            values = self._q[si, ri]
        result: FloatArray = values
        return result

    def lower(self, s_floor: np.ndarray, r: FloatArray) -> FloatArray:
        """A lower bound on q(r, s) given the s floor index: the grid r rounded up."""
        rc = _ceil_index(self.r_grid, r)  # len(r_grid): the zero column
        return self._lookup(s_floor, rc)

    def bracket(self, r: FloatArray, s: FloatArray) -> tuple[FloatArray, FloatArray]:
        """(lower, upper) with lower ≤ q(r, s) ≤ upper, element by element."""
        rf = _floor_index(self.r_grid, r)
        sc = _ceil_index(self.s_grid, s)
        upper = np.ones(len(rf))
        inside = sc < len(self.s_grid)
        upper[inside] = self._lookup(sc[inside], rf[inside])
        return self.lower(self.s_floor(s), r), upper


_TABLES: dict[float, BoundTable] = {}


def bound_table(confidence: float) -> BoundTable:
    table = _TABLES.get(confidence)
    if table is None:
        table = _TABLES[confidence] = BoundTable(confidence)
    return table
