"""Acquisition functions (to MAXIMIZE) on a GP over losses, and fantasies for running trials.

* ``logei``: log expected improvement below ``best`` in the numerically stable form of Ament et al.
  (2023), "Unexpected Improvements to Expected Improvement for Bayesian Optimization" (eq. 9): finite
  with useful gradients even where EI underflows to 0.
* ``ucb``: the lower confidence bound of the loss, negated: ``-(mean - sqrt(beta) * std)``.

Batches use the kriging believer (Ginsbourger et al. 2010): each running or already chosen point is
added to the GP as an observation equal to its posterior mean, which shrinks the variance around it
and steers the next point elsewhere without refitting hyperparameters.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from pipeline.search.gp import GP

ACQUISITIONS = ("logei", "ucb")
DEFAULT_UCB_BETA = 4.0  # 2 posterior standard deviations
_C1 = 0.5 * math.log(2.0 * math.pi)
_C2 = 0.5 * math.log(math.pi / 2.0)
_INV_SQRT_EPS = 1.0 / math.sqrt(torch.finfo(torch.float64).eps)

AcqFn = Callable[[torch.Tensor], torch.Tensor]


def _log1mexp(x: torch.Tensor) -> torch.Tensor:
    """``log(1 - exp(x))`` for ``x < 0``, accurate on both sides of ``-log 2`` (Maechler 2012)."""
    x = x.clamp_max(-1e-300)
    return torch.where(x > -math.log(2.0), torch.log(-torch.expm1(x)), torch.log1p(-torch.exp(x)))


def log_h(z: torch.Tensor) -> torch.Tensor:
    """``log(phi(z) + z Phi(z))`` for any real ``z``; the standardized log-EI (Ament et al. 2023, eq. 9)."""
    # Each branch sees only its own inputs (others get a harmless constant), so no NaN gradients leak
    # through torch.where, and gradients stay exact at the branch boundaries.
    hi, lo = z > -1.0, z <= -_INV_SQRT_EPS
    z_hi = torch.where(hi, z, torch.zeros_like(z))
    upper = torch.log(torch.exp(-0.5 * z_hi**2 - _C1) + z_hi * torch.special.ndtr(z_hi))
    z_mid = torch.where(~hi & ~lo, z, torch.full_like(z, -2.0))
    mid = -0.5 * z_mid**2 - _C1 + _log1mexp(torch.log(torch.special.erfcx(-z_mid / math.sqrt(2.0)) * -z_mid)
                                            + _C2)
    z_lo = torch.where(lo, z, torch.full_like(z, -_INV_SQRT_EPS))
    low = -0.5 * z_lo**2 - _C1 - 2.0 * torch.log(-z_lo)
    return torch.where(hi, upper, torch.where(lo, low, mid))


def log_ei(mean: torch.Tensor, var: torch.Tensor, best: float) -> torch.Tensor:
    """``log E[max(best - f, 0)]`` for ``f ~ N(mean, var)`` (minimization), elementwise."""
    sigma = var.sqrt()
    return log_h((best - mean) / sigma) + torch.log(sigma)


def make_acquisition(gp: GP, kind: str = "logei", best: float | None = None,
                     beta: float = DEFAULT_UCB_BETA) -> AcqFn:
    """Acquisition ``x (m, d) -> (m,)`` on ``gp``; ``best`` is the incumbent loss (needed for logei)."""
    if kind == "logei":
        if best is None:
            raise ValueError("logei needs the incumbent value `best`")

        def acq(x: torch.Tensor) -> torch.Tensor:
            mean, var = gp.posterior(x)
            return log_ei(mean, var, best)

    elif kind == "ucb":
        root_beta = math.sqrt(beta)

        def acq(x: torch.Tensor) -> torch.Tensor:
            mean, var = gp.posterior(x)
            return -(mean - root_beta * var.sqrt())

    else:
        raise ValueError(f"acquisition={kind!r} is not one of {ACQUISITIONS}")
    return acq


def incumbent(gp: GP, X: np.ndarray) -> float:
    """Best posterior mean over observed points ``X (n, d)``: a noise-robust EI threshold."""
    return float(np.min(gp.mean_np(X)))


def fantasize(gp: GP, X_pending: np.ndarray) -> GP:
    """Kriging believer: ``gp`` with each row of ``X_pending (p, d)`` observed at its posterior mean."""
    X_pending = np.atleast_2d(np.asarray(X_pending, dtype=np.float64))
    if len(X_pending) == 0:
        return gp
    return gp.condition_on(X_pending, gp.mean_np(X_pending))
