"""Gaussian-process surrogate over the unit-cube encoding (torch, float64).

Prior mean: a constant, estimated by generalized least squares (``gls_mean``) and profiled out of the
likelihood. Kernel: ``k(x, x') = s * matern52(r)`` with ``r^2 = sum_j w_j * d_j(x, x')^2``, ARD weights
``w_j = 1 / l_j^2``; ``d_j`` is ``x_j - x'_j`` on ordered columns (floats, integers) and the overlap
(Hamming) distance ``1[x_j != x'_j]`` on categorical columns, whose encodings carry no order.
Hyperparameters ``theta = [log l (d), log s, log noise]`` are MAP estimates (``pipeline.search.prior``)
found with L-BFGS-B from several starts; a failed fit falls back to the prior mode.
Notation: ``X`` (n, d) training inputs, ``y`` (n,) standardized targets, ``x`` (..., d) query points.
"""

from __future__ import annotations

import logging
import math
import warnings
from typing import Any

import numpy as np
import scipy.optimize as so
import torch

from pipeline.search.prior import HyperPrior

log = logging.getLogger(__name__)

# Jitter added to the diagonal, multiplied by 10 on each failed Cholesky attempt.
JITTER_INITIAL = 1e-9
JITTER_TRIES = 6
# L-BFGS-B settings for the MAP fit; warm starts converge in a few dozen iterations.
FIT_MAXITER = 200
FIT_GTOL = 1e-5
# Noise variance given to fantasized observations (running trials): near-exact, so the posterior
# variance collapses around them and batch points spread out even when the learned noise is large.
FANTASY_NOISE_VAR = 1e-6
# Fits always also start from the prior mode and from the prior mode with this (standardized) noise
# variance: smooth-and-noisy and wiggly-and-exact explanations are separate local optima of the MAP.
NOISY_START_NOISE_VAR = 0.25
# Hyperparameters are fitted on at most this many observations (the fit costs O(n^3) per L-BFGS-B
# step); the GP is then conditioned on all of them. A quarter of the subset is the best observations,
# where the model must be right; the rest is drawn uniformly so the fit sees the whole landscape.
FIT_MAX_POINTS = 200
FIT_BEST_SHARE = 0.25
DTYPE = torch.float64


class _Matern52(torch.autograd.Function):
    """``matern52`` of a squared distance with an exact derivative at 0 (autograd's sqrt is not)."""

    @staticmethod
    def forward(ctx: Any, d2: torch.Tensor) -> torch.Tensor:
        r5 = torch.sqrt(5.0 * d2)
        e = torch.exp(-r5)
        ctx.save_for_backward((-5.0 / 6.0) * (r5 + 1.0) * e)
        return e * (1.0 + r5 + (5.0 / 3.0) * d2)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        (deriv,) = ctx.saved_tensors
        return grad * deriv


def matern52(d2: torch.Tensor) -> torch.Tensor:
    """Matern-5/2 correlation ``(1 + r5 + r5^2/3) exp(-r5)``, ``r5 = sqrt(5 d2)``; ``d2 >= 0``."""
    return _Matern52.apply(d2)


def per_dim_sq_dist(x1: torch.Tensor, x2: torch.Tensor, is_cat: torch.Tensor) -> torch.Tensor:
    """Per-column squared distances ``(..., n1, n2, d)`` between ``x1 (..., n1, d)`` and ``x2 (n2, d)``.

    Categorical columns get the overlap distance ``1[x1_j != x2_j]``.
    """
    d2 = (x1[..., :, None, :] - x2) ** 2
    if bool(is_cat.any()):
        d2 = torch.where(is_cat, (d2 > 1e-12).to(d2.dtype), d2)
    return d2


def scaled_sq_dist(x1: torch.Tensor, x2: torch.Tensor, inv_ls2: torch.Tensor,
                   is_cat: torch.Tensor) -> torch.Tensor:
    """ARD squared distances ``(..., n1, n2)`` between ``x1 (..., n1, d)`` and ``x2 (n2, d)``.

    Ordered columns use ``|a|^2 + |b|^2 - 2 a.b`` on the scaled inputs (one matrix product, memory
    ``O(n1 n2)`` instead of the ``O(n1 n2 d)`` of ``per_dim_sq_dist``); the rounding error is
    ~1e-16 * |a|^2, negligible in the kernel, and the result is clamped at 0. Categorical columns
    add ``sum_j w_j * 1[x1_j != x2_j]`` (memory ``O(n1 n2 c)`` for ``c`` of them).
    """
    ordered = ~is_cat
    root_w = inv_ls2[ordered].sqrt()
    a, b = x1[..., ordered] * root_w, x2[:, ordered] * root_w
    d2 = (a * a).sum(-1)[..., :, None] + (b * b).sum(-1) - 2.0 * a @ b.T
    d2 = d2.clamp_min(0.0)
    if bool(is_cat.any()):
        d2 = d2 + (x1[..., :, None, is_cat] != x2[:, is_cat]).to(d2.dtype) @ inv_ls2[is_cat]
    return d2


def _cholesky(K: torch.Tensor) -> torch.Tensor:
    """Lower Cholesky factor of ``K (n, n)``, adding growing jitter until it succeeds."""
    n = K.shape[-1]
    eye = torch.eye(n, dtype=K.dtype)
    jitter = 0.0
    for attempt in range(JITTER_TRIES + 1):
        L, info = torch.linalg.cholesky_ex(K + jitter * eye)
        if int(info) == 0 and bool(torch.isfinite(L).all()):
            return L
        jitter = JITTER_INITIAL * 10.0**attempt * max(1.0, float(K.diagonal().mean().detach()))
    raise np.linalg.LinAlgError("Cholesky failed even with jitter")


class GP:
    """A GP conditioned on ``(X, y)`` with fixed hyperparameters ``theta`` (see module docstring)."""

    def __init__(self, X: np.ndarray, y: np.ndarray, is_cat: np.ndarray, theta: np.ndarray,
                 n_fantasies: int = 0, L: torch.Tensor | None = None, mean: float | None = None) -> None:
        """``L``: the Cholesky factor of the kernel matrix when the caller already has it; ``mean``: the
        constant prior mean, by default its GLS estimate (``gls_mean``)."""
        self.n_fantasies = int(n_fantasies)
        self.X = torch.as_tensor(np.asarray(X, dtype=np.float64))
        self.y = torch.as_tensor(np.asarray(y, dtype=np.float64))
        self.is_cat = torch.as_tensor(np.asarray(is_cat, dtype=bool))
        self.theta = np.asarray(theta, dtype=np.float64)
        d = self.X.shape[1]
        t = torch.as_tensor(self.theta)
        self.inv_ls2 = torch.exp(-2.0 * t[:d])
        self.signal_var = torch.exp(t[d])
        self.noise_var = torch.exp(t[d + 1])
        if L is None:
            noise = torch.full((len(self.X),), float(self.noise_var), dtype=DTYPE)
            if self.n_fantasies:
                noise[len(self.X) - self.n_fantasies:] = self.fantasy_noise
            L = _cholesky(self.kernel(self.X, self.X) + torch.diag(noise))
        self.L = L
        self.mean = gls_mean(L, self.y) if mean is None else float(mean)
        self.alpha = torch.cholesky_solve((self.y - self.mean)[:, None], self.L)[:, 0]

    @property
    def fantasy_noise(self) -> float:
        return min(FANTASY_NOISE_VAR, float(self.noise_var))

    @property
    def lengthscales(self) -> np.ndarray:
        return np.exp(self.theta[: self.X.shape[1]])

    def kernel(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        """Covariance ``(..., n1, n2)`` between ``x1 (..., n1, d)`` and ``x2 (n2, d)``."""
        return self.signal_var * matern52(scaled_sq_dist(x1, x2, self.inv_ls2, self.is_cat))

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Latent mean and variance at ``x (m, d)``, each ``(m,)``; differentiable in ``x``."""
        k = self.kernel(x, self.X)  # (m, n)
        mean = self.mean + k @ self.alpha
        v = torch.linalg.solve_triangular(self.L, k.T, upper=False)  # (n, m)
        var = self.signal_var - (v * v).sum(0)
        return mean, var.clamp_min(1e-12 * float(self.signal_var))

    def posterior_np(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``posterior`` for a numpy ``(m, d)`` array, without gradients."""
        with torch.no_grad():
            m, v = self.posterior(torch.as_tensor(np.asarray(x, dtype=np.float64)))
        return m.numpy(), v.numpy()

    def mean_np(self, x: np.ndarray) -> np.ndarray:
        """The latent mean alone at a numpy ``(m, d)`` array: no variance, so no ``(n, m)`` triangular solve (at
        every observed point, the cubic part of an ask)."""
        with torch.no_grad():
            k = self.kernel(torch.as_tensor(np.asarray(x, dtype=np.float64)), self.X)
            return (self.mean + k @ self.alpha).numpy()

    def condition_on(self, X_new: np.ndarray, y_new: np.ndarray) -> GP:
        """The same GP plus near-noiseless fantasy observations ``X_new (p, d)`` (running trials).

        No refit, and no new factorization either: the Cholesky factor grows by a block,
        ``L' = [[L, 0], [B^T, C]]`` with ``B = L^-1 K(X, X_new)`` and ``C = chol(K(X_new, X_new) +
        noise - B^T B)``, ``O(n^2 p)`` instead of ``O((n + p)^3)``.
        """
        Xn = torch.as_tensor(np.asarray(X_new, dtype=np.float64))
        B = torch.linalg.solve_triangular(self.L, self.kernel(self.X, Xn), upper=False)  # (n, p)
        S = self.kernel(Xn, Xn) - B.T @ B
        C = _cholesky(0.5 * (S + S.T) + self.fantasy_noise * torch.eye(len(Xn), dtype=DTYPE))
        L = torch.cat([torch.cat([self.L, torch.zeros(len(self.X), len(Xn), dtype=DTYPE)], 1),
                       torch.cat([B.T, C], 1)], 0)
        X = np.concatenate([self.X.numpy(), Xn.numpy()])
        y = np.concatenate([self.y.numpy(), np.asarray(y_new, dtype=np.float64)])
        return GP(X, y, self.is_cat.numpy(), self.theta, self.n_fantasies + len(Xn), L, self.mean)


def gls_mean(L: torch.Tensor, y: torch.Tensor) -> float:
    """Constant prior mean ``1^T K^-1 y / 1^T K^-1 1`` of ``y (n,)``; ``L`` is the Cholesky factor of ``K``.

    The generalized-least-squares (= maximum-likelihood) estimate of ordinary kriging (Santner,
    Williams & Notz 2003, "The Design and Analysis of Computer Experiments"); BoTorch's constant mean,
    learnt with the other hyperparameters, is the same estimate. Correlated observations share their
    weight: a tight cluster counts about as one point. The sample mean (what a zero-mean GP on
    standardized losses assumes) is dragged towards the best losses, because a search samples its good
    regions densely; every region far from the data then reverts to that optimistic value, and log-EI
    spends evaluations on the corners of the cube (Hartmann6: about 7 of 36).
    """
    w = torch.cholesky_solve(torch.ones(len(y), 1, dtype=DTYPE), L)[:, 0]
    return float(w @ y / w.sum())


def neg_log_posterior(theta: np.ndarray, D2: torch.Tensor, y: torch.Tensor,
                      prior: HyperPrior) -> tuple[float, np.ndarray]:
    """``-(log p(y | X, theta) + log p(theta))`` and its gradient for ``theta (d + 2,)``, with the constant
    mean profiled out (set to ``gls_mean`` for each ``theta``).

    ``D2 = per_dim_sq_dist(X, X)`` (n, n, d). Gradient in closed form (Rasmussen & Williams 2006,
    eq. 5.9): ``d(-mll)/d theta_i = -tr((a a^T - K^-1) dK/d theta_i) / 2`` with ``a = K^-1 y``; cheaper
    than autograd for the small matrices of hyperparameter tuning. Raises LinAlgError if ``K`` is not PD.
    """
    n, d = D2.shape[0], D2.shape[-1]
    t = torch.as_tensor(theta, dtype=DTYPE)
    w, s, noise = torch.exp(-2.0 * t[:d]), torch.exp(t[d]), torch.exp(t[d + 1])
    R2 = D2 @ w
    r5 = torch.sqrt(5.0 * R2)
    e = torch.exp(-r5)
    K = s * e * (1.0 + r5 + (5.0 / 3.0) * R2) + noise * torch.eye(n, dtype=DTYPE)
    L, info = torch.linalg.cholesky_ex(K)
    if int(info) != 0:
        raise np.linalg.LinAlgError("kernel matrix not positive definite")
    y = y - gls_mean(L, y)  # profiled constant mean; the gradient below holds at it (envelope theorem)
    alpha = torch.cholesky_solve(y[:, None], L)[:, 0]
    W = torch.outer(alpha, alpha) - torch.cholesky_solve(torch.eye(n, dtype=DTYPE), L)
    nll = 0.5 * float(y @ alpha) + float(torch.log(L.diagonal()).sum()) + 0.5 * n * math.log(2.0 * math.pi)
    dK_dR2 = s * (-5.0 / 6.0) * (1.0 + r5) * e
    grad = torch.empty(d + 2, dtype=DTYPE)
    grad[:d] = w * torch.einsum("ab,abj->j", W * dK_dR2, D2)  # dR2/dtheta_j = -2 w_j D2_j
    grad[d] = -0.5 * float((W * (K - noise * torch.eye(n, dtype=DTYPE))).sum())
    grad[d + 1] = -0.5 * float(noise * W.diagonal().sum())
    nlp, nlp_grad = prior.neg_log_prob(theta)
    return nll + nlp, grad.numpy() + nlp_grad


def _map_from(theta0: np.ndarray, D2: torch.Tensor, y: torch.Tensor, prior: HyperPrior) -> tuple[np.ndarray, float]:
    """One L-BFGS-B run from ``theta0``; returns ``(theta, loss)``, raising if it produced nothing usable."""

    def fun(th: np.ndarray) -> tuple[float, np.ndarray]:
        try:
            loss, grad = neg_log_posterior(th, D2, y, prior)
        except (np.linalg.LinAlgError, RuntimeError):
            return 1e25, np.zeros_like(th)  # L-BFGS-B's line search backs off
        if not (np.isfinite(loss) and np.all(np.isfinite(grad))):
            return 1e25, np.zeros_like(th)
        return loss, grad

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = so.minimize(fun, prior.clip(theta0), jac=True, method="L-BFGS-B", bounds=prior.bounds(),
                          options={"maxiter": FIT_MAXITER, "gtol": FIT_GTOL})
    if not np.all(np.isfinite(res.x)) or not np.isfinite(res.fun) or res.fun >= 1e24:
        raise RuntimeError(f"GP fit failed: {res.message}")
    return np.asarray(res.x, dtype=np.float64), float(res.fun)


def fit_gp(X: np.ndarray, y: np.ndarray, is_cat: np.ndarray, starts: list[np.ndarray] | None = None) -> GP:
    """MAP-fit a GP to ``X (n, d)`` in [0, 1], ``y (n,)`` standardized; ``starts`` are initial thetas.

    The prior mode and a noisy variant of it are always tried as well; the best posterior wins. If every run fails, the
    prior
    mode itself is used (and if even that matrix cannot be factorized, a large noise).
    """
    X = np.asarray(X, dtype=np.float64)
    prior = HyperPrior(X.shape[1])
    D2 = per_dim_sq_dist(torch.as_tensor(X), torch.as_tensor(X), torch.as_tensor(np.asarray(is_cat, dtype=bool)))
    ty = torch.as_tensor(np.asarray(y, dtype=np.float64))
    best: tuple[np.ndarray, float] | None = None
    noisy = prior.loc()
    noisy[-1] = math.log(NOISY_START_NOISE_VAR)
    for theta0 in [*(starts or []), prior.loc(), noisy]:
        try:
            theta, loss = _map_from(np.asarray(theta0, dtype=np.float64), D2, ty, prior)
        except (RuntimeError, np.linalg.LinAlgError, ValueError) as err:
            log.debug("GP fit from %s failed: %s", theta0, err)
            continue
        if best is None or loss < best[1]:
            best = (theta, loss)
    for theta in ([best[0]] if best else []) + [prior.loc(), _noisy(prior)]:
        try:
            return GP(X, y, is_cat, theta)
        except np.linalg.LinAlgError:
            log.warning("GP with theta=%s could not be factorized; falling back", theta)
    raise np.linalg.LinAlgError("no GP could be built on these data")


def _noisy(prior: HyperPrior) -> np.ndarray:
    """The prior mode with the largest allowed noise: always factorizable."""
    theta = prior.loc()
    theta[-1] = prior.bounds()[-1][1]
    return theta


def fit_subset(y: np.ndarray, m: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of at most ``m`` of the ``y (n,)`` losses to fit hyperparameters on.

    All of them when ``n <= m``; else the ``FIT_BEST_SHARE * m`` lowest and a uniform draw of the others.
    """
    n = len(y)
    if n <= m:
        return np.arange(n)
    n_best = int(FIT_BEST_SHARE * m)
    order = np.argsort(y, kind="stable")
    rest = rng.choice(order[n_best:], size=m - n_best, replace=False)
    return np.sort(np.concatenate([order[:n_best], rest]))
