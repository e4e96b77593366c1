"""The sweep's surrogate: the GP ``bayes`` fits, on the complete trials, returning the objective in its own units.

The model is ``pipeline.search.gp`` unchanged (constant GLS mean, Matern-5/2 ARD kernel with the overlap distance on
categorical columns, MAP hyperparameters), fitted with ``fit_gp`` on ``space.encode``-style points exactly as
``BayesOptimizer.fit_transformed`` does (hyperparameters on at most ``FIT_MAX_POINTS`` trials, the GP conditioned on
all). Only the output transform differs: the targets are standardised, ``z = (y - mu) / s``, and not power-warped,
because an affine map can be undone: a prediction ``m_z, v_z`` of the latent ``z`` is ``mu + s m_z, s^2 v_z`` in the
objective's units, and an effect read off the surrogate (a partial dependence, an ablation step) is a difference of
objective values, not of warped ones.

Every prediction is of the latent function (the noise-free objective), so a credible band says how sure the model is
of the mean objective there, not where the next noisy trial would land.

``background`` draws full configurations (every parameter, inactive ones included) as a random search draws them:
the distribution partial dependence averages over.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy.stats import qmc

from pipeline import objective
from pipeline.search.bayes import PARALLEL_MIN_POINTS, limited_threads
from pipeline.search.gp import DTYPE, FIT_MAX_POINTS, GP, fit_gp, fit_subset, matern52
from pipeline.search.params import CategoricalParam, FloatParam, IntParam, Param
from pipeline.search.space import INACTIVE, SearchSpace

# A choice a categorical parameter does not search (a default configuration's, say) is encoded here: outside every
# choice's cell centre ``(i + 0.5) / k`` and apart from ``INACTIVE``, so the overlap kernel puts it at distance one
# from every searched choice: the GP predicts what it knows whatever that parameter's value, with the extra
# uncertainty of a choice it never saw.
UNKNOWN_CHOICE = 0.0
# Query points are processed in chunks of this many rows (the kernel against the trials costs O(chunk * n * d)).
CHUNK = 4096
# Weighted averages are computed a batch of sets at a time, their (sets, M, M) and (sets, M, n) kernels holding at
# most this many entries together (16 MiB of float64).
BATCH_ENTRIES = 1 << 21


@dataclass
class Surrogate:
    """A GP on the unit-cube encoding of ``space`` fitted to standardised objective values ``z = (y - y_mean) /
    y_scale`` of ``n_trials`` trials; ``label`` and ``direction`` (minimize | maximize) name the objective."""

    space: SearchSpace
    gp: GP
    y_mean: float
    y_scale: float
    label: str
    direction: str
    n_trials: int

    @property
    def sign(self) -> float:
        """+1 to minimize, -1 to maximize: ``sign * value`` is smaller for better values."""
        return objective.sign(self.direction)

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and standard deviation of the latent objective at encoded points ``X (m, d)``, each
        ``(m,)``, in the objective's units."""
        X = _points(X, self.space.dim)
        mean, var = np.empty(len(X)), np.empty(len(X))
        for start in range(0, len(X), CHUNK):
            m, v = self.gp.posterior_np(X[start:start + CHUNK])
            mean[start:start + CHUNK], var[start:start + CHUNK] = m, v
        return self.y_mean + self.y_scale * mean, self.y_scale * np.sqrt(np.maximum(var, 0.0))

    def covariance(self, X: np.ndarray) -> np.ndarray:
        """Posterior covariance ``(m, m)`` of the latent objective at encoded points ``X (m, d)``, in the objective's
        units squared: ``s^2 (K(x, x) - v^T v)`` with ``v = L^-1 K(X_train, x)`` (``L`` the GP's Cholesky factor of
        ``K(X_train, X_train) + noise``; Rasmussen & Williams 2006, eq. 2.24)."""
        with torch.no_grad():
            x = torch.as_tensor(_points(X, self.space.dim), dtype=DTYPE)
            v = torch.linalg.solve_triangular(self.gp.L, self.gp.kernel(self.gp.X, x), upper=False)  # (n, m)
            cov = self.gp.kernel(x, x) - v.T @ v
            cov = 0.5 * (cov + cov.T)
        return self.y_scale ** 2 * cov.numpy()

    def average(self, X: np.ndarray) -> tuple[float, float]:
        """Posterior mean and standard deviation of the average ``(1/M) sum_i f(x_i)`` over the ``M`` rows of ``X
        (M, d)``, in the objective's units: ``1^T m / M`` and ``sqrt(1^T Sigma 1) / M`` with ``Sigma = covariance(X)``
        (exact: a linear functional of a GP is Gaussian). ``averages`` for many sets at once."""
        X = _points(X, self.space.dim)
        if not len(X):
            raise ValueError("average over no point: X has shape (0, d)")
        mean, sd = self.averages(X[None], np.full((1, len(X)), 1.0 / len(X)))
        return float(mean[0]), float(sd[0])

    def averages(self, X: np.ndarray, W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and sd ``(C,)`` of ``C`` weighted averages ``sum_i W_ci f(x_ci)`` of the latent objective over
        sets of encoded points ``X (C, M, d)`` with weights ``W (C, M)``, in the objective's units.

        ``Var_c = s^2 (w^T K(x_c, x_c) w - |L^-1 K(X_train, x_c) w|^2)`` (``= w^T Sigma_c w``, ``Sigma_c`` the posterior
        covariance of ``f`` at ``x_c``), computed without forming ``Sigma_c``: ``O(M^2 d + n M d + n^2)`` per set.
        """
        X, W = np.asarray(X, dtype=np.float64), np.asarray(W, dtype=np.float64)
        if X.ndim != 3 or X.shape[2] != self.space.dim or W.shape != X.shape[:2]:
            raise ValueError(f"expected X (C, M, {self.space.dim}) and W (C, M), got {X.shape=} {W.shape=}")
        gp, C, M = self.gp, X.shape[0], X.shape[1]
        mean, var = np.empty(C), np.empty(C)
        step = max(1, BATCH_ENTRIES // max(1, M * (M + len(gp.X))))  # sets per batch
        with torch.no_grad():
            for start in range(0, C, step):
                x = torch.as_tensor(X[start:start + step], dtype=DTYPE)
                w = torch.as_tensor(W[start:start + step], dtype=DTYPE)
                k = gp.kernel(x, gp.X)                                             # (c, M, n)
                mean[start:start + step] = (gp.mean + (k @ gp.alpha)).mul(w).sum(1).numpy()
                quad = torch.einsum("ci,cij,cj->c", w, _set_kernel(gp, x), w)
                v = torch.linalg.solve_triangular(gp.L, torch.einsum("cmn,cm->nc", k, w), upper=False)  # (n, c)
                var[start:start + step] = (quad - (v * v).sum(0)).clamp_min(0.0).numpy()
        return self.y_mean + self.y_scale * mean, self.y_scale * np.sqrt(var)


def fit_surrogate(space: SearchSpace, points: Sequence[Mapping[str, Any]], values: np.ndarray, label: str,
                  direction: str, seed: int = 0) -> Surrogate:
    """MAP-fit the GP to trials ``points`` (parameter dicts, active values only) and their objective ``values (n,)``.

    As ``BayesOptimizer`` fits: ``fit_gp`` with the space's categorical mask on at most ``FIT_MAX_POINTS`` trials (the
    best quarter of them and a uniform draw of the rest, ``fit_subset``, seeded by ``seed``), then conditioned on all.
    A constant objective gives a flat surrogate (scale 1, every prediction the constant).
    """
    y = np.asarray(values, dtype=np.float64).reshape(-1)
    if len(y) != len(points):
        raise ValueError(f"{len(points)} points but {len(y)} values; expected one value per point")
    if len(y) < 2:
        raise ValueError(f"{len(y)} trials: a surrogate needs at least 2")
    if not np.isfinite(y).all():
        raise ValueError(f"values must be finite, got {y[~np.isfinite(y)][:3].tolist()}")
    if not space.dim:
        raise ValueError("a surrogate needs at least one searched parameter")
    sign = objective.sign(direction)
    y_mean, std = float(y.mean()), float(y.std())
    y_scale = std if np.ptp(y) > 0 and std > 0 and math.isfinite(std) else 1.0
    z = (y - y_mean) / y_scale
    X = encode_configs(space, points)
    idx = fit_subset(sign * z, FIT_MAX_POINTS, np.random.default_rng([seed, len(z)]))
    with limited_threads(1 if len(z) < PARALLEL_MIN_POINTS else torch.get_num_threads()):  # as bayes: small matrices
        gp = fit_gp(X[idx], z[idx], space.is_categorical)
        if len(idx) < len(z):
            gp = GP(X, z, space.is_categorical, gp.theta)
    return Surrogate(space, gp, y_mean, y_scale, label, direction, len(y))


def background(space: SearchSpace, n: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    """``n`` full configurations (a value for every parameter, whether active or not) drawn as a random search draws
    them: uniform in the unit cube (a scrambled Sobol sequence seeded from ``rng``, for an even cover), decoded
    parameter by parameter (log-uniform on log scale, every choice equally likely)."""
    if n < 1:
        raise ValueError(f"{n=} must be >= 1")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns when n is not a power of two: the balance is only approximate
        U = qmc.Sobol(max(space.dim, 1), scramble=True, seed=rng).random(n)
    return [{p.name: p.from_unit(u) for p, u in zip(space.params, row)} for row in U]


def active_mask(space: SearchSpace, configs: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """Boolean ``(n, d)``: which parameters are active at each configuration (its parents' values as given)."""
    if not space.conditions:
        return np.ones((len(configs), space.dim), dtype=bool)
    return np.array([[n in active for n in space.names] for c in configs for active in [set(space.active(c))]],
                    dtype=bool).reshape(len(configs), space.dim)


def encode_configs(space: SearchSpace, configs: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """``(n, d)`` encoding of configurations as the GP sees them: ``space.encode``'s, with a parameter inactive at a
    configuration ``INACTIVE`` (whatever value it holds), a number outside the searched range clipped to it, and a
    choice the space does not search ``UNKNOWN_CHOICE``. Raises ValueError naming a parameter that is active and has
    no value, or a value that is not a number for a numeric parameter."""
    mask = active_mask(space, configs)
    X = np.full((len(configs), space.dim), INACTIVE)
    for i, config in enumerate(configs):
        for j, p in enumerate(space.params):
            if mask[i, j]:
                if p.name not in config:
                    raise ValueError(f"parameter {p.name!r} is active at {dict(config)} but has no value there")
                X[i, j] = unit(p, config[p.name])
    return X


def unit(p: Param, value: Any) -> float:
    """``value``'s unit-cube code for ``p``: outside the range clipped to it, an unknown choice ``UNKNOWN_CHOICE``."""
    if isinstance(p, CategoricalParam):
        try:
            return p.to_unit(value)
        except ValueError:
            return UNKNOWN_CHOICE
    assert isinstance(p, (FloatParam, IntParam))
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"parameter {p.name!r}: {value!r} is not a number") from None
    if isinstance(value, bool) or not math.isfinite(v):
        raise ValueError(f"parameter {p.name!r}: {value!r} is not a finite number")
    return p.to_unit(min(max(v, float(p.low)), float(p.high)))


def _set_kernel(gp: GP, x: torch.Tensor) -> torch.Tensor:
    """``K(x_c, x_c)`` ``(C, M, M)`` within each set of ``x (C, M, d)``: ``gp.kernel``, whose second argument is one
    set only (``pipeline.search.gp.scaled_sq_dist``, batched over the sets)."""
    cat = gp.is_cat
    root_w = gp.inv_ls2[~cat].sqrt()
    a = x[..., ~cat] * root_w
    sq = (a * a).sum(-1)
    d2 = (sq[..., :, None] + sq[..., None, :] - 2.0 * a @ a.transpose(-1, -2)).clamp_min(0.0)
    if bool(cat.any()):
        d2 = d2 + (x[..., :, None, cat] != x[..., None, :, cat]).to(d2.dtype) @ gp.inv_ls2[cat]
    return gp.signal_var * matern52(d2)


def _points(X: np.ndarray, d: int) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    X = X.reshape(1, -1) if X.ndim == 1 else X
    if X.ndim != 2 or X.shape[1] != d:
        raise ValueError(f"expected encoded points of shape (m, {d}), got {X.shape}")
    return X
