"""Priors and box bounds on the GP hyperparameters, all expressed on their logs.

The GP (``pipeline.search.gp``) fits ``theta = [log lengthscales (d), log signal variance, log noise
variance]`` by maximizing ``log p(y | theta) + log_prior(theta)``. Priors on logs of positive
parameters are log-normal, i.e. Gaussian on ``theta``.

Lengthscales get a dimension-scaled log-normal prior in the spirit of Hvarfner, Hellsten & Nardi (2024),
"Vanilla Bayesian Optimization Performs Great in High Dimensions": ``log l ~ N(log(sqrt(d)) - 0.5, 3)``,
so models assume smoother functions as dimension grows. Its mode (0.6 sqrt(d)) lies inside the box
below, under the cap of sqrt(d); Hvarfner's own location (sqrt(2) + log(d) / 2, i.e. 4.1 sqrt(d)) lies
above it and pinned every weakly identified lengthscale to the cap, so the model ignored dimensions
that matter only near the optimum.
The noise variance gets a weak log-normal prior (median 1e-3, standard deviation 3 on the log): a
deterministic objective can be interpolated, so the search keeps refining near the optimum, and a noisy
one (cross-validated scores) still gets its noise learnt from the data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# Location log(sqrt(d)) + LENGTHSCALE_LOC_OFFSET, variance 3 on the log lengthscale (see above).
LENGTHSCALE_LOC_OFFSET = -0.5
LENGTHSCALE_VAR = 3.0
# Outputs are standardized, so the signal variance is ~1: a mild log-normal prior around 1.
SIGNAL_VAR_LOC = 0.0
SIGNAL_VAR_VAR = 1.0
# Noise variance (standardized units): LogNormal(log 1e-3, 9). BoTorch's LogNormal(-4, 1) (median 0.018)
# charged ~28 nats for the 1e-5 a deterministic objective needs, so the model never interpolated.
NOISE_VAR_LOC = math.log(1e-3)
NOISE_VAR_VAR = 9.0

# Box bounds (natural scale) that keep the Cholesky factor well conditioned. Lengthscales are capped
# at LENGTHSCALE_MAX_PER_SQRT_DIM * sqrt(d) (unit-cube distances grow like sqrt(d)): with few
# observations, ARD otherwise "switches off" a parameter that matters only near the optimum, and the
# search stops refining it. Every tuned parameter keeps some modelled effect over its range.
LENGTHSCALE_MIN = 5e-3
LENGTHSCALE_MAX_PER_SQRT_DIM = 1.0
SIGNAL_VAR_BOUNDS = (5e-2, 20.0)
NOISE_VAR_BOUNDS = (1e-6, 1.0)


@dataclass(frozen=True)
class HyperPrior:
    """Gaussian prior on log hyperparameters for a ``dim``-dimensional input (``dim >= 1``)."""

    dim: int

    @property
    def n_params(self) -> int:
        return self.dim + 2

    def loc(self) -> np.ndarray:
        """Prior means of ``theta``, shape ``(dim + 2,)``: also the default starting point of a fit."""
        ls = 0.5 * math.log(self.dim) + LENGTHSCALE_LOC_OFFSET
        return np.array([ls] * self.dim + [SIGNAL_VAR_LOC, NOISE_VAR_LOC], dtype=np.float64)

    def var(self) -> np.ndarray:
        """Prior variances of ``theta``, shape ``(dim + 2,)``."""
        return np.array([LENGTHSCALE_VAR] * self.dim + [SIGNAL_VAR_VAR, NOISE_VAR_VAR], dtype=np.float64)

    def bounds(self) -> list[tuple[float, float]]:
        """L-BFGS-B box on ``theta`` (logs of the natural bounds)."""
        ls = (LENGTHSCALE_MIN, LENGTHSCALE_MAX_PER_SQRT_DIM * math.sqrt(self.dim))
        b = [ls] * self.dim + [SIGNAL_VAR_BOUNDS, NOISE_VAR_BOUNDS]
        return [(math.log(lo), math.log(hi)) for lo, hi in b]

    def clip(self, theta: np.ndarray) -> np.ndarray:
        """Clip ``theta`` into the box (used for warm starts and prior samples)."""
        lo, hi = np.array(self.bounds()).T
        return np.clip(theta, lo, hi)

    def neg_log_prob(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """``-log p(theta)`` up to a constant, and its gradient, for ``theta`` of shape ``(dim + 2,)``.

        The prior is Gaussian on ``theta``: ``sum((theta - loc)^2 / var) / 2``; its gradient is
        ``(theta - loc) / var``. Zero at the prior's mode.
        """
        diff = np.asarray(theta, dtype=np.float64) - self.loc()
        var = self.var()
        return 0.5 * float((diff ** 2 / var).sum()), diff / var
