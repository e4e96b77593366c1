"""Maximize an acquisition function over the unit-cube encoding of a mixed search space.

1. Score quasi-random (scrambled Sobol) candidates plus perturbations of the best observed points;
   discrete columns of every candidate sit on actual values (cell encodings).
2. Refine the best candidates and the best observed points: continuous columns by L-BFGS-B (one
   independent run per start, preconditioned by the GP lengthscales), discrete columns
   (integers, stepped floats, categoricals) by coordinate-wise search over their values; alternate.
3. Small finite spaces are searched exhaustively instead.
Integer columns with more than ``columns.MAX_LEVELS`` values are refined like continuous ones and snapped.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import scipy.optimize as so
import torch
from scipy.stats import qmc

from pipeline.search.acquisition import AcqFn
from pipeline.search.columns import Columns, nearest

ENUM_LEVELS = 64  # coordinate search tries every value of columns up to this size, else a subset
LOCAL_MAXITER = 200  # L-BFGS-B iterations per start and continuous refinement
LOCAL_GTOL = 1e-2  # projected-gradient tolerance on the preconditioned scale (Optuna: sqrt(1e-4))
ALTERNATIONS = 3  # continuous / discrete refinement rounds
PERTURB_SCALES = (0.01, 0.05, 0.2)  # std devs (unit cube) of perturbations around the best points
EVAL_CHUNK = 4096  # candidates scored per torch call
BOLTZMANN_ETA = 1.0  # start selection: P(candidate) ~ exp(eta * standardized acquisition)


def acq_values(acq: AcqFn, X: np.ndarray) -> np.ndarray:
    """Acquisition values ``(m,)`` of ``X (m, d)`` without gradients, in chunks."""
    out = []
    with torch.no_grad():
        for s in range(0, len(X), EVAL_CHUNK):
            out.append(acq(torch.as_tensor(X[s:s + EVAL_CHUNK])).numpy())
    vals = np.concatenate(out) if out else np.zeros(0)
    return np.where(np.isfinite(vals), vals, -np.inf)


def candidates(cols: Columns, rng: np.random.Generator, n: int, best_X: np.ndarray) -> np.ndarray:
    """``n`` snapped Sobol points plus perturbations of the rows of ``best_X (k, d)``."""
    sob = qmc.Sobol(cols.dim, scramble=True, seed=rng)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        X = sob.random(n)
    return cols.snap(np.concatenate([X, perturb(cols, rng, best_X, max(1, n // 16))]))


def perturb(cols: Columns, rng: np.random.Generator, best_X: np.ndarray, n: int) -> np.ndarray:
    """``n`` points near the rows of ``best_X``: Gaussian steps on continuous columns at several
    scales, and on average one discrete column redrawn uniformly among its values."""
    if len(best_X) == 0:
        return np.zeros((0, cols.dim))
    X = best_X[rng.integers(len(best_X), size=n)].copy()
    scales = np.array(PERTURB_SCALES)[rng.integers(len(PERTURB_SCALES), size=n)]
    cont = cols.cont
    X[:, cont] += rng.normal(size=(n, int(cont.sum()))) * scales[:, None]
    for j, lv in enumerate(cols.levels):
        if lv is not None:
            flip = rng.random(n) < 1.0 / cols.dim
            X[flip, j] = lv[rng.integers(len(lv), size=int(flip.sum()))]
    return np.clip(X, 0.0, 1.0)


def select_starts(vals: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``n`` local-search starts: the best candidate, then Boltzmann draws without
    replacement (as BoTorch's ``initialize_q_batch``), so starts spread over several basins."""
    finite = np.flatnonzero(np.isfinite(vals))
    if len(finite) <= n:
        return finite[np.argsort(-vals[finite], kind="stable")]
    v = vals[finite]
    z = (v - v.mean()) / (v.std() or 1.0)
    w = np.exp(BOLTZMANN_ETA * (z - z.max()))
    w[np.argmax(v)] = 0.0
    w = np.maximum(w, 1e-300)
    others = rng.choice(len(v), size=n - 1, replace=False, p=w / w.sum())
    return finite[np.concatenate([[np.argmax(v)], others])]


def refine_continuous(acq: AcqFn, X: np.ndarray, cont: np.ndarray,
                      scale: np.ndarray | None = None) -> np.ndarray:
    """L-BFGS-B on the continuous columns of each row of ``X (s, d)``, one independent run per row.

    Runs are separate (as Optuna's and BoTorch's batched L-BFGS-B): a shared run on the summed
    acquisition couples line searches and stopping rules across starts and may trade one start's
    value for another's. ``scale`` (d,) (the GP lengthscales) preconditions each column, as Optuna does:
    the search runs on ``x / scale``, where the acquisition varies at a similar rate along every axis.
    """
    if not cont.any():
        return X
    idx = np.flatnonzero(cont)
    s = np.ones(len(idx)) if scale is None else np.clip(np.asarray(scale, dtype=np.float64)[idx], 1e-3, 1e3)
    out = X.copy()
    for i in range(len(X)):
        base = torch.as_tensor(X[i:i + 1].copy())

        def fun(z: np.ndarray, base: torch.Tensor = base) -> tuple[float, np.ndarray]:
            u = torch.tensor(z * s, requires_grad=True)
            val = acq(base.index_copy(1, torch.as_tensor(idx), u[None]))[0]
            if not torch.isfinite(val):
                return 1e300, np.zeros_like(z)
            (g,) = torch.autograd.grad(val, u)
            return -float(val), -g.numpy() * s

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = so.minimize(fun, X[i, idx] / s, jac=True, method="L-BFGS-B",
                              bounds=list(zip(np.zeros(len(idx)), 1.0 / s)),
                              options={"maxiter": LOCAL_MAXITER, "gtol": LOCAL_GTOL})
        out[i, idx] = np.clip(res.x * s, 0.0, 1.0)
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
