"""Random search: scrambled Sobol (default) or independent uniform points, decoded from the unit cube.

Log-uniform sampling on log scale and exact integer/categorical values come from the space's
unit-cube decoding. Point ``i`` depends only on ``(seed, i)``: the optimizer counts the sequence
points it has consumed, and a trial told without being asked (a resumed sweep) consumes one too,
so a resumed sweep continues the sequence instead of repeating its first points.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy.stats import qmc

from pipeline.objective import MINIMIZE
from pipeline.search.base import Optimizer
from pipeline.search.space import SearchSpace
from pipeline.tracking.names import TrialState

SAMPLERS = ("sobol", "uniform")


class RandomOptimizer(Optimizer):
    """Sample the space independently of results; ``sampler`` is ``"sobol"`` or ``"uniform"``."""

    def __init__(self, space: SearchSpace, seed: int = 0, direction: str | Sequence[str] = MINIMIZE,
                 sampler: str = "sobol", **options: Any) -> None:
        super().__init__(space, seed=seed, direction=direction)
        self._reject_options(options)
        if sampler not in SAMPLERS:
            raise ValueError(f"sampler={sampler!r}: expected one of {SAMPLERS}")
        self.sampler = sampler
        self.n_consumed = 0

    def tell(self, params: Mapping[str, Any], value: float | Sequence[float] | None,
             state: TrialState | str | None = None, constraints: Sequence[float] | None = None) -> None:
        asked = self._is_pending(params)
        super().tell(params, value, state, constraints)
        if not asked:
            self.n_consumed += 1

    def add_pending(self, params: Mapping[str, Any]) -> None:
        super().add_pending(params)
        self.n_consumed += 1

    def _propose(self, n: int) -> np.ndarray:
        X = self.sample(self.n_consumed, n)
        self.n_consumed += n
        return X

    def sample(self, start: int, n: int) -> np.ndarray:
        """Points ``start .. start + n - 1`` of this seed's sequence, shape ``(n, d)``."""
        d = self.space.dim
        if self.sampler == "uniform":
            return np.random.default_rng(self.seed).random((start + n, d))[start:]
        engine = qmc.Sobol(d, scramble=True, seed=self.seed)
        if start:  # fast_forward(0) underflows in scipy
            engine.fast_forward(start)
        with warnings.catch_warnings():  # any n is fine here: we want a prefix, not a balanced set
            warnings.filterwarnings("ignore", message="The balance properties", category=UserWarning)
            return engine.random(n)
