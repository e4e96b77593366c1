"""Output transforms: make losses (to minimize) look Gaussian enough for a stationary GP.

``power`` (default, as in HEBO): robust standardization (median / IQR), then a Yeo-Johnson power
transform whose lambda maximizes the Gaussian likelihood (Yeo & Johnson 2000), then standardization.
A heavy right tail (huge losses far from the optimum) gets compressed while the good region keeps its
resolution. ``rank``: normal scores of the ranks (a Gaussian copula), immune to any outlier.
``standardize``: mean 0, std 1 only. All transforms are monotone, so the best point stays the best.
"""

from __future__ import annotations

import numpy as np
import scipy.optimize as so
import scipy.special as sp
import scipy.stats as st

WARPINGS = ("power", "rank", "standardize")
# Search interval for the Yeo-Johnson lambda (1 = identity). Capped at 1 so the warp may compress
# the bad (high-loss) tail but never the good one, where the optimizer needs resolution.
POWER_LAMBDA_BOUNDS = (-3.0, 1.0)
# Robust scale: the interquartile range of a standard normal is 1.349.
IQR_TO_STD = 1.349
# Values this far (in robust units) from the median are clipped before the power transform.
ROBUST_CLIP = 1e6


def warp(y: np.ndarray, method: str = "power") -> np.ndarray:
    """Transform losses ``y (n,)`` (finite) with ``method``; returns ``(n,)`` with mean 0, std 1.

    A constant ``y`` maps to zeros.
    """
    y = np.asarray(y, dtype=np.float64)
    if method not in WARPINGS:
        raise ValueError(f"output warping {method!r} is not one of {WARPINGS}")
    if y.size == 0 or np.ptp(y) == 0.0:
        return np.zeros_like(y)
    if method == "rank":
        return standardize(rank_gauss(y))
    if method == "power":
        z = robust_standardize(y)
        return standardize(st.yeojohnson(z, fit_lambda(z)))
    return standardize(y)


def standardize(y: np.ndarray) -> np.ndarray:
    """``(y - mean) / std``; zeros when ``y`` is constant."""
    s = float(np.std(y))
    return np.zeros_like(y) if s == 0.0 or not np.isfinite(s) else (y - np.mean(y)) / s


def robust_standardize(y: np.ndarray) -> np.ndarray:
    """Center on the median and scale by the IQR (std, then range, when the IQR is zero); clip."""
    q25, q50, q75 = np.percentile(y, [25, 50, 75])
    scale = (q75 - q25) / IQR_TO_STD
    if not scale > 0:
        scale = float(np.std(y)) or float(np.ptp(y))
    return np.clip((y - q50) / scale, -ROBUST_CLIP, ROBUST_CLIP)


def fit_lambda(z: np.ndarray) -> float:
    """Maximum-likelihood Yeo-Johnson lambda for ``z``, bounded to ``POWER_LAMBDA_BOUNDS``."""

    def nll(lam: float) -> float:
        with np.errstate(all="ignore"):
            v = -float(st.yeojohnson_llf(lam, z))
        return v if np.isfinite(v) else 1e300

    res = so.minimize_scalar(nll, bounds=POWER_LAMBDA_BOUNDS, method="bounded", options={"xatol": 1e-3})
    lam = float(res.x)
    return lam if np.isfinite(lam) and np.all(np.isfinite(st.yeojohnson(z, lam))) else 1.0


def rank_gauss(y: np.ndarray) -> np.ndarray:
    """Normal scores ``Phi^-1((rank - 0.5) / n)`` with ties sharing their average rank."""
    r = st.rankdata(y)
    return np.sqrt(2.0) * sp.erfinv(2.0 * (r - 0.5) / len(y) - 1.0)
