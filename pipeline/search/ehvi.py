"""Acquisitions for several objectives and for constraints (to MAXIMIZE), on independent GPs over losses.

* ``log_ehvi``: the log of the expected hypervolume improvement, exact for independent Gaussian objectives. Over
  disjoint boxes ``[l, u]`` of the non-dominated region (``pareto.nondominated_boxes``), a point ``y`` adds
  ``prod_j (u_j - max(y_j, l_j))^+`` per box; with independent ``y_j`` the expectation of the product is the
  product of expectations, and ``E[(u - max(y, l))^+] = sigma (h((u - mu) / sigma) - h((l - mu) / sigma))`` with
  ``h(z) = phi(z) + z Phi(z)`` (Yang et al. 2019). Summed in log space with ``acquisition.log_h``, so it stays
  finite with useful gradients far from the front, as LogEI does (Ament et al. 2023; Optuna's ``GPSampler`` and
  BoTorch's qLogNEHVI take the same log form).
* ``log_pof``: the log probability that every constraint is met, ``sum_k log Phi((t_k - mu_k) / sigma_k)`` for
  GPs of the constraints' values with thresholds ``t_k`` (Gardner et al. 2014; Gelbart et al. 2014). Added to
  an acquisition it weights it by the probability of feasibility; alone, it looks for a feasible point first.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from pipeline.search.acquisition import AcqFn, _log1mexp, log_h
from pipeline.search.gp import GP


def log_ehvi(mean: torch.Tensor, var: torch.Tensor, lower: torch.Tensor, upper: torch.Tensor) -> torch.Tensor:
    """``log EHVI`` ``(n,)`` of points with independent Gaussian losses ``mean, var (n, m)`` over the boxes
    ``lower, upper (k, m)`` (lower bounds may be ``-inf``)."""
    sigma = var.clamp_min(1e-24).sqrt()[:, None, :]  # (n, 1, m)
    mu = mean[:, None, :]
    a = (upper[None] - mu) / sigma  # (n, k, m)
    finite = torch.isfinite(lower)[None].expand_as(a)
    b = torch.where(finite, (torch.where(torch.isfinite(lower), lower, upper)[None] - mu) / sigma, a - 1.0)
    la = log_h(a)
    lb = log_h(b)
    # log(h(a) - h(b)) = log h(a) + log(1 - exp(log h(b) - log h(a))); h(b) = 0 where the box is open below.
    diff = torch.where(finite, _log1mexp((lb - la).clamp_max(-1e-12)), torch.zeros_like(la))
    per_box = (la + diff + torch.log(sigma)).sum(-1)  # (n, k)
    return torch.logsumexp(per_box, dim=-1)


def log_pof(mean: torch.Tensor, var: torch.Tensor, thresholds: torch.Tensor) -> torch.Tensor:
    """``log P(c_k <= t_k for all k)`` ``(n,)`` for independent Gaussian ``c ~ N(mean, var) (n, K)``."""
    z = (thresholds - mean) / var.clamp_min(1e-24).sqrt()
    return torch.special.log_ndtr(z).sum(-1)


def stacked_posterior(gps: Sequence[GP], x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Means and variances ``(n, len(gps))`` of each GP at ``x (n, d)``."""
    post = [gp.posterior(x) for gp in gps]
    return torch.stack([p[0] for p in post], -1), torch.stack([p[1] for p in post], -1)


def make_mo_acquisition(objectives: Sequence[GP], boxes: tuple[np.ndarray, np.ndarray] | None,
                        constraints: Sequence[GP] = (), thresholds: Sequence[float] = ()) -> AcqFn:
    """``x (n, d) -> (n,)``: log EHVI over ``boxes`` of the objectives' GPs (None: no feasible point yet, so no
    front to improve) plus the log probability of feasibility under the constraints' GPs."""
    lower = upper = None
    if boxes is not None:
        lower, upper = (torch.as_tensor(b, dtype=torch.float64) for b in boxes)
    t = torch.as_tensor(np.asarray(thresholds, dtype=np.float64))

    def acq(x: torch.Tensor) -> torch.Tensor:
        out = torch.zeros(x.shape[0], dtype=torch.float64)
        if boxes is not None:
            mean, var = stacked_posterior(objectives, x)
            out = out + log_ehvi(mean, var, lower, upper)
        if constraints:
            mean, var = stacked_posterior(constraints, x)
            out = out + log_pof(mean, var, t)
        return out

    return acq


def with_feasibility(acq: AcqFn, constraints: Sequence[GP], thresholds: Sequence[float]) -> AcqFn:
    """``acq`` plus the log probability of feasibility (for one objective: constrained LogEI)."""
    if not constraints:
        return acq
    t = torch.as_tensor(np.asarray(thresholds, dtype=np.float64))

    def constrained(x: torch.Tensor) -> torch.Tensor:
        mean, var = stacked_posterior(constraints, x)
        return acq(x) + log_pof(mean, var, t)

    return constrained


