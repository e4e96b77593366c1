"""Maximize an acquisition function over the unit-cube encoding of a mixed search space.

1. Score quasi-random (scrambled Sobol) candidates; discrete columns of every candidate sit on actual
   values (cell encodings).
2. Refine the best candidate, candidates drawn with probability proportional to the acquisition
   (exp of log-EI: EI itself, as Optuna's ``optimize_acqf_mixed``) and the best observed point:
   continuous columns by L-BFGS-B (one independent run per start, preconditioned by the GP
   lengthscales), discrete columns (integers, stepped floats, categoricals) by coordinate-wise
   search over their values; alternate.
3. Small finite spaces are searched exhaustively instead.
Integer columns with more than ``columns.MAX_LEVELS`` values are refined like continuous ones and snapped.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
from scipy.stats import qmc

from pipeline.search.acquisition import AcqFn
from pipeline.search.columns import Columns, nearest
from pipeline.search.lockstep import minimize_lockstep

ENUM_LEVELS = 64  # coordinate search tries every value of columns up to this size, else a subset
LOCAL_MAXITER = 200  # L-BFGS-B iterations per start and continuous refinement
LOCAL_GTOL = 1e-2  # projected-gradient tolerance on the preconditioned scale (Optuna: sqrt(1e-4))
ALTERNATIONS = 3  # continuous / discrete refinement rounds
EVAL_CHUNK = 4096  # candidates scored per torch call, at most
EVAL_ELEMENTS = 2**18  # and at most this many candidate x observation pairs: the kernel's temporaries scale with
                       # it (x d with categoricals), ~230 MB at 2,048 candidates and 1,000 observations unchunked


def acq_values(acq: AcqFn, X: np.ndarray, n_obs: int = 0) -> np.ndarray:
    """Acquisition values ``(m,)`` of ``X (m, d)`` without gradients, in chunks sized for a GP of ``n_obs``
    observations."""
    chunk = max(1, min(EVAL_CHUNK, EVAL_ELEMENTS // max(1, n_obs)))
    out = []
    with torch.no_grad():
        for s in range(0, len(X), chunk):
            out.append(acq(torch.as_tensor(X[s:s + chunk])).numpy())
    vals = np.concatenate(out) if out else np.zeros(0)
    return np.where(np.isfinite(vals), vals, -np.inf)


def candidates(cols: Columns, rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` snapped scrambled-Sobol points ``(n, d)``.

    No extra candidates around the best observed points: they tilted every proposal towards the
    incumbent's basin, and on multimodal landscapes (Hartmann6) the search settled in a local minimum
    more often; the best observed point is still refined as one start (``bayes``).
    """
    sob = qmc.Sobol(cols.dim, scramble=True, seed=rng)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        X = sob.random(n)
    return cols.snap(X)


def select_starts(vals: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of up to ``n`` local-search starts: the best candidate, then draws without replacement
    with probability ``exp(vals - max)`` (proportional to EI for log-EI; Optuna's roulette).

    Starts concentrate where improvement is likely; a flatter draw (softmax of standardized values)
    spent them on low-EI basins and, with the best points' perturbations, favoured the incumbent's.
    Fewer starts when fewer candidates have a non-negligible probability.
    """
    finite = np.flatnonzero(np.isfinite(vals))
    if len(finite) <= n:
        return finite[np.argsort(-vals[finite], kind="stable")]
    v = vals[finite]
    best = int(np.argmax(v))
    w = np.exp(v - v[best])
    w[best] = 0.0
    k = min(n - 1, int(np.count_nonzero(w > 0)))
    others = rng.choice(len(v), size=k, replace=False, p=w / w.sum()) if k else np.zeros(0, dtype=int)
    return finite[np.concatenate([[best], others]).astype(int)]


def refine_continuous(acq: AcqFn, X: np.ndarray, cont: np.ndarray,
                      scale: np.ndarray | None = None) -> np.ndarray:
    """L-BFGS-B on the continuous columns of each row of ``X (s, d)``, one independent run per row.

    Runs are separate (as Optuna's and BoTorch's batched L-BFGS-B): a shared run on the summed
    acquisition couples line searches and stopping rules across starts and may trade one start's
    value for another's. They run in lockstep (``lockstep``): the points all runs ask for at a step are
    scored in one call. ``scale`` (d,) (the GP lengthscales) preconditions each column, as Optuna does:
    the search runs on ``x / scale``, where the acquisition varies at a similar rate along every axis.
    """
    if not cont.any():
        return X
    idx = np.flatnonzero(cont)
    s = np.ones(len(idx)) if scale is None else np.clip(np.asarray(scale, dtype=np.float64)[idx], 1e-3, 1e3)
    bases, cols = torch.as_tensor(X.copy()), torch.as_tensor(idx)

    def fun(rows: np.ndarray, Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        u = torch.tensor(Z * s, requires_grad=True)
        vals = acq(bases[torch.as_tensor(rows)].index_copy(1, cols, u))
        (g,) = torch.autograd.grad(vals.sum(), u)  # rows are independent: each row's own gradient
        ok = torch.isfinite(vals).numpy()
        return np.where(ok, -vals.detach().numpy(), 1e300), np.where(ok[:, None], -g.numpy() * s, 0.0)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Z = minimize_lockstep(fun, X[:, idx] / s, list(zip(np.zeros(len(idx)), 1.0 / s)),
                              {"maxiter": LOCAL_MAXITER, "gtol": LOCAL_GTOL})
    out = X.copy()
    out[:, idx] = np.clip(Z * s, 0.0, 1.0)
    return out


def refine_discrete(acq: AcqFn, X: np.ndarray, vals: np.ndarray, cols: Columns,
                    rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, bool]:
    """One coordinate sweep over discrete columns for all rows of ``X``; returns (X, vals, changed)."""
    X, vals, changed = X.copy(), vals.copy(), False
    for j in rng.permutation(cols.dim):
        lv = cols.levels[j]
        if lv is None:
            continue
        tries = _level_subset(lv, X[:, j])  # (s, t)
        trial = np.repeat(X[:, None, :], tries.shape[1], axis=1)
        trial[:, :, j] = tries
        tv = acq_values(acq, trial.reshape(-1, cols.dim)).reshape(tries.shape)
        k = np.argmax(tv, axis=1)
        better = tv[np.arange(len(X)), k] > vals + 1e-12
        X[better, j] = tries[better, k[better]]
        vals[better] = tv[better, k[better]]
        changed |= bool(better.any())
    return X, vals, changed


def _level_subset(levels: np.ndarray, current: np.ndarray) -> np.ndarray:
    """Values to try per row: all levels if few, else near neighbours (+-2^k) and an even grid."""
    if len(levels) <= ENUM_LEVELS:
        return np.broadcast_to(levels, (len(current), len(levels)))
    n = len(levels)
    grid = np.linspace(0, n - 1, ENUM_LEVELS // 2).round().astype(int)
    steps = 2 ** np.arange(int(math.log2(n)) + 1)
    idx = nearest(levels, current)[:, None] + np.concatenate([-steps, steps])[None, :]
    idx = np.concatenate([np.broadcast_to(grid, (len(current), len(grid))), np.clip(idx, 0, n - 1)], axis=1)
    return levels[idx]


def local_search(acq: AcqFn, starts: np.ndarray, cols: Columns, rng: np.random.Generator,
                 scale: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Alternate continuous and discrete refinement of ``starts (s, d)``; returns (X, values).

    ``scale`` (d,): per-column preconditioning of the continuous search (see ``refine_continuous``).
    """
    X = cols.snap(starts)
    vals = acq_values(acq, X)
    has_disc = not cols.cont.all()
    for _ in range(ALTERNATIONS):
        X_new = refine_continuous(acq, X, cols.cont, scale)
        v_new = acq_values(acq, X_new)
        keep = v_new >= vals
        X[keep], vals[keep] = X_new[keep], v_new[keep]
        if not has_disc:
            break
        X, vals, changed = refine_discrete(acq, X, vals, cols, rng)
        if not changed:
            break
    return X, vals
