"""How an optimizer treats each column of a space's unit-cube encoding: discrete columns as their
sorted level encodings, continuous ones (floats, integers with very many values) as intervals.

Shared by the initial design (``initial``) and the acquisition optimizer (``acq_optimizer``).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from pipeline.search.space import IntParam, SearchSpace

MAX_LEVELS = 100_000  # integer columns with more values are refined continuously, then snapped
EXHAUSTIVE_MAX = 4096  # finite spaces up to this size are scored (or enumerated) point by point


@dataclass(frozen=True)
class Columns:
    """How each column is optimized: ``levels[j]`` holds the sorted encodings of a discrete column,
    ``None`` for a column refined continuously (floats, and integers with too many values)."""

    levels: tuple[np.ndarray | None, ...]
    is_cat: np.ndarray

    @classmethod
    def from_space(cls, space: SearchSpace) -> Columns:
        return cls(tuple(_levels(p, n) for p, n in zip(space.params, space.n_values)), space.is_categorical)

    @property
    def dim(self) -> int:
        return len(self.levels)

    @property
    def cont(self) -> np.ndarray:
        return np.array([lv is None for lv in self.levels], dtype=bool)

    def cardinality(self) -> float:
        return math.inf if self.cont.any() else float(np.prod([len(lv) for lv in self.levels]))

    def snap(self, X: np.ndarray) -> np.ndarray:
        """Move each discrete coordinate of ``X (m, d)`` to its nearest level."""
        X = np.array(X, dtype=np.float64)
        for j, lv in enumerate(self.levels):
            if lv is not None:
                X[:, j] = lv[nearest(lv, X[:, j])]
        return X


def _levels(param: object, n_values: int) -> np.ndarray | None:
    """Sorted encodings of every value of a discrete column (see ``space``'s cell layout)."""
    if n_values == 0 or n_values > MAX_LEVELS:
        return None
    if isinstance(param, IntParam):  # same formula as IntParam.to_unit, vectorized
        v = np.arange(param.low, param.high + 1, param.step, dtype=np.float64)
        if param.log:
            lo, hi = math.log(param.low - 0.5), math.log(param.high + 0.5)
            return (np.log(v) - lo) / (hi - lo)
        lo, hi = param.low - 0.5 * param.step, param.high + 0.5 * param.step
        return (v - lo) / (hi - lo)
    return (np.arange(n_values, dtype=np.float64) + 0.5) / n_values


def nearest(levels: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Index of the level nearest to each ``u`` (``levels`` sorted ascending)."""
    idx = np.clip(np.searchsorted(levels, u), 1, len(levels) - 1)
    return np.where(np.abs(u - levels[idx - 1]) <= np.abs(levels[idx] - u), idx - 1, idx)


def enumerate_points(cols: Columns) -> np.ndarray:
    """Every point of a finite space, ``(cardinality, d)``; only call when it is small."""
    return np.array(list(itertools.product(*cols.levels)), dtype=np.float64).reshape(-1, cols.dim)
