"""The upper credible bound on a host's failure probability, from scipy's Beta quantile.

Exposure decisions use the `confidence` quantile of Beta(s + 1, r + 1) after r (weighted) good
and s bad observations: uniform prior, so q(r, 0) = 1 − (1 − confidence)^(1/(r+1)).
`scipy.special.betaincinv` is the inverse of the regularized incomplete beta function (Cephes'
incbi via Boost); it is a ufunc, so the scalar and the array forms are the same computation.

For extreme evidence (a ~ 4e8 with b ~ 20) scipy 1.17's inverse was seen to answer a point
where the CDF is 0, not the confidence asked; where the CDF at the answer misses the
confidence by more than `_RESIDUAL`, the root is found again on the CDF itself (Brent).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.optimize import brentq
from scipy.special import betainc, betaincinv

FloatArray = npt.NDArray[np.float64]

# The inverse's own accuracy in CDF terms on narrow distributions (a, b ~ 1e8) is ~1e-8.
_RESIDUAL = 1e-7


def _polished(a: float, b: float, confidence: float, q: float) -> float:
    if abs(float(betainc(a, b, q)) - confidence) <= _RESIDUAL:
        return q
    root: float = brentq(lambda x: float(betainc(a, b, x)) - confidence, 0.0, 1.0, xtol=1e-300)
    return root


def _check(confidence: float) -> None:
    # betaincinv answers nan outside (0, 1); a nan bound would compare false everywhere.
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")


def upper_bound(r: float, s: float, confidence: float) -> float:
    """Upper `confidence` credible bound on failure probability after r good and s bad."""
    _check(confidence)
    a, b = s + 1.0, r + 1.0
    if not (a > 0.0 and b > 0.0):  # Beta(a, b) needs a, b > 0; also false for nan
        raise ValueError(f"beta quantile needs r, s > -1, got r={r}, s={s}")
    return _polished(a, b, confidence, float(betaincinv(a, b, confidence)))


def upper_bound_array(
    r: FloatArray | list[float], s: FloatArray | list[float], confidence: float
) -> FloatArray:
    """`upper_bound` over arrays of evidence, element by element."""
    _check(confidence)
    a = np.asarray(s, dtype=np.float64) + 1.0
    b = np.asarray(r, dtype=np.float64) + 1.0
    if not (np.all(a > 0.0) and np.all(b > 0.0)):  # also false for nan
        raise ValueError("beta quantile needs every r, s > -1")
    a, b = np.broadcast_arrays(a, b)
    result: FloatArray = np.array(betaincinv(a, b, confidence), dtype=np.float64)
    off = np.abs(betainc(a, b, result) - confidence) > _RESIDUAL
    for i in zip(*np.nonzero(off), strict=True):
        result[i] = _polished(float(a[i]), float(b[i]), confidence, float(result[i]))
    return result
