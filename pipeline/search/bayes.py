"""``bayes``: Gaussian-process Bayesian optimization behind the ask/tell ``Optimizer`` API."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

from pipeline.objective import MINIMIZE
from pipeline.search.acq_optimizer import acq_values, candidates, local_search, select_starts
from pipeline.search.acquisition import (
    ACQUISITIONS,
    DEFAULT_UCB_BETA,
    AcqFn,
    fantasize,
    incumbent,
    make_acquisition,
)
from pipeline.search.base import Optimizer
from pipeline.search.columns import EXHAUSTIVE_MAX, Columns, enumerate_points
from pipeline.search.gp import FIT_MAX_POINTS, GP, fit_gp, fit_subset
from pipeline.search.initial import default_n_initial, fresh_points, novel, unique_count
from pipeline.search.space import INACTIVE, SearchSpace
from pipeline.search.warping import WARPINGS, warp
from pipeline.tracking.names import TrialState

log = logging.getLogger(__name__)

DEFAULT_N_CANDIDATES = 2048
DEFAULT_N_RESTARTS = 8  # best candidates refined by local search
N_BEST_STARTS = 1  # best observed points also refined
MIN_FIT_POINTS = 2  # observations needed before the GP takes over from the Sobol design
N_FINAL = 64  # best unrefined candidates kept as fallbacks when refined points are duplicates
# Past ``fit_points`` observations the hyperparameters (fitted on a subset of that size) are refitted once the
# history has grown by this fraction; in between, the GP keeps them and is conditioned on every observation.
REFIT_GROWTH = 0.05
# Below this many observations every matrix (the fit sees at most FIT_MAX_POINTS) is small enough that
# a second thread costs more in synchronization than it saves, far more on shared cores: one thread.
PARALLEL_MIN_POINTS = 2000


@contextmanager
def limited_threads(n: int) -> Iterator[None]:
    """Cap torch and BLAS/OpenMP threads to ``n`` inside the block, restoring them afterwards."""
    prev = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
            yield
        else:
            with threadpool_limits(limits=n):
                yield
    finally:
        torch.set_num_threads(prev)


class BayesOptimizer(Optimizer):
    """GP-based Bayesian optimization (constant GLS mean, Matern-5/2 ARD + overlap kernel, MAP hyperparameters,
    LogEI).

    Options (keyword only; bad values raise ``ValueError``):
      n_initial: size of the scrambled-Sobol initial design; ``None`` = ``2 (d + 1)`` clipped to [5, 20].
      acquisition: ``"logei"`` (default) or ``"ucb"``; ucb_beta: UCB's ``beta`` (> 0).
      warping: output transform ``"power"`` (default), ``"rank"`` or ``"standardize"``.
      n_candidates: Sobol candidates scored per proposal; n_restarts: best ones refined locally.
      n_threads: torch/BLAS threads while proposing (restored afterwards), so it coexists with training;
        histories under ``PARALLEL_MIN_POINTS`` use one.
      fit_points: hyperparameters are fitted on at most this many observations (``gp.fit_subset``),
        then the GP is conditioned on all of them; ``None`` = ``gp.FIT_MAX_POINTS``.

    History handling: failed trials are left out of the model (a failure says nothing about the
    loss) but their points are never proposed again. Pruned trials enter as pessimistic observations:
    their last reported loss, raised to at least the median completed loss, since a pruner stopped them
    for looking no better than typical. Batches (``ask(n)``, and trials still running) use the kriging
    believer, so points in one batch are distinct and spread out. A finite space returns fewer points
    once it is exhausted.
    """

    def __init__(self, space: SearchSpace, seed: int = 0, direction: str = MINIMIZE, *,
                 n_initial: int | None = None, acquisition: str = "logei", ucb_beta: float = DEFAULT_UCB_BETA,
                 warping: str = "power", n_candidates: int = DEFAULT_N_CANDIDATES,
                 n_restarts: int = DEFAULT_N_RESTARTS, n_threads: int = 1, fit_points: int | None = None,
                 **unknown: Any) -> None:
        super().__init__(space, seed=seed, direction=direction)
        if unknown:
            raise ValueError(f"unknown option(s) {sorted(unknown)} for strategy 'bayes'; expected some of "
                             "n_initial, acquisition, ucb_beta, warping, n_candidates, n_restarts, n_threads, "
                             "fit_points")
        self.n_initial = (default_n_initial(space.dim, space.cardinality()) if n_initial is None
                          else _int_option("n_initial", n_initial, 0))
        self.acquisition = _choice_option("acquisition", acquisition, ACQUISITIONS)
        self.ucb_beta = _positive_option("ucb_beta", ucb_beta)
        self.warping = _choice_option("warping", warping, WARPINGS)
        self.n_candidates = _int_option("n_candidates", n_candidates, 1)
        self.n_restarts = _int_option("n_restarts", n_restarts, 1)
        self.n_threads = _int_option("n_threads", n_threads, 1)
        self.fit_points = FIT_MAX_POINTS if fit_points is None else _int_option("fit_points", fit_points, 2)
        self.cols = Columns.from_space(space)
        self._theta: np.ndarray | None = None  # last MAP hyperparameters: warm start of the next fit
        self._fitted_on = 0  # observations in the history when ``_theta`` was fitted
        self._grid: np.ndarray | None = None  # every point of a small finite space

    # -- proposing ----------------------------------------------------------------------------
    def _propose(self, n: int) -> np.ndarray:
        with limited_threads(self.n_threads if len(self.trials) >= PARALLEL_MIN_POINTS else 1):
            exclude = self.all_X
            if math.isfinite(self.space.cardinality()):
                n = min(n, int(self.space.cardinality()) - unique_count(exclude))
            if n <= 0:
                return np.zeros((0, self.space.dim))
            rng = np.random.default_rng([self.seed, len(self.trials), len(self.pending)])
            X, y = self.training_data()
            n_design = n if len(X) < MIN_FIT_POINTS else min(n, max(0, self.n_initial - len(exclude)))
            out = fresh_points(self.space, self.cols, self.seed, exclude, n_design, rng)
            if len(out) < n:
                out = np.vstack([out, self._propose_model(n - len(out), X, y, exclude, out, rng)])
            return out

    def training_data(self) -> tuple[np.ndarray, np.ndarray]:
        """Encoded points ``(n, d)`` and losses ``(n,)`` the GP learns from (see class docstring)."""
        X, y = self.observed((TrialState.COMPLETE,))
        Xp, yp = self.observed((TrialState.PRUNED,))
        if len(yp) and len(y):
            yp = np.maximum(yp, np.median(y))
        return np.vstack([X, Xp]), np.concatenate([y, yp])

    def fit(self, X: np.ndarray, y: np.ndarray) -> GP:
        """MAP-fit the GP to warped losses (on at most ``fit_points`` of them), warm-started from the
        previous fit, and condition it on all of them. Past ``fit_points`` observations the previous fit is
        kept until the history has grown by ``REFIT_GROWTH``: a subset of that size moves little between asks,
        and the fit is most of an ask's cost at a thousand observations."""
        z = warp(y, self.warping)
        if self._theta is not None and self.fit_points < len(z) < self._fitted_on * (1 + REFIT_GROWTH):
            return GP(X, z, self.space.is_categorical, self._theta)
        idx = fit_subset(z, self.fit_points, np.random.default_rng([self.seed, len(z)]))
        starts = [] if self._theta is None else [self._theta]
        gp = fit_gp(X[idx], z[idx], self.space.is_categorical, starts)
        self._theta, self._fitted_on = gp.theta, len(z)
        return gp if len(idx) == len(z) else GP(X, z, self.space.is_categorical, gp.theta)

    def _propose_model(self, n: int, X: np.ndarray, y: np.ndarray, exclude: np.ndarray, running: np.ndarray,
                       rng: np.random.Generator) -> np.ndarray:
        """``n`` points chosen one by one, each fantasized (kriging believer) before the next.

        ``running`` (r, d): points of this batch already chosen by the design, treated as pending.
        """
        exclude = np.vstack([exclude, running])
        try:
            gp = fantasize(self.fit(X, y), np.vstack([self.pending_X, running]))
        except (np.linalg.LinAlgError, RuntimeError, ValueError) as err:
            log.warning("bayes: GP unavailable (%s); proposing quasi-random points", err)
            return fresh_points(self.space, self.cols, self.seed, exclude, n, rng)
        best_X = X[np.argsort(y, kind="stable")[:N_BEST_STARTS]]
        out = np.zeros((0, self.space.dim))
        for _ in range(n):
            x = self._maximize(self._acquisition(gp), np.vstack([exclude, out]), best_X, rng, gp.lengthscales)
            if x is None:
                x = fresh_points(self.space, self.cols, self.seed, np.vstack([exclude, out]), 1, rng)
                if len(x) == 0:
                    break
            out = np.vstack([out, x])
            gp = fantasize(gp, x)
        return out

    def _acquisition(self, gp: GP) -> AcqFn:
        best = incumbent(gp, gp.X.numpy()) if self.acquisition == "logei" else None
        acq = make_acquisition(gp, self.acquisition, best, self.ucb_beta)
        return self._on_active(acq) if self.space.conditions else acq

    def _on_active(self, acq: AcqFn) -> AcqFn:
        """``acq`` of the point each candidate is: its inactive coordinates set to ``INACTIVE``, so the GP (one
        model on the union of parameters) compares it with the history as it will be told, and the acquisition's
        gradient leaves inactive coordinates alone."""

        def on_active(X: torch.Tensor) -> torch.Tensor:
            mask = torch.as_tensor(self.space.inactive_mask(X.detach().reshape(-1, X.shape[-1]).numpy()))
            return acq(torch.where(mask.reshape(X.shape), torch.full_like(X, INACTIVE), X))

        return on_active

    def _maximize(self, acq: AcqFn, exclude: np.ndarray, best_X: np.ndarray, rng: np.random.Generator,
                  scale: np.ndarray | None = None) -> np.ndarray | None:
        """The unused point ``(1, d)`` with the highest acquisition found (``scale``: GP lengthscales), or None."""
        if self.cols.cardinality() <= EXHAUSTIVE_MAX:
            if self._grid is None:
                self._grid = self.space.snap(enumerate_points(self.cols))
            pool = self._grid[novel(self._grid, exclude)]
            return pool[[int(np.argmax(acq_values(acq, pool, len(self.trials))))]] if len(pool) else None
        cand = candidates(self.cols, rng, self.n_candidates)
        vals = acq_values(acq, cand, len(self.trials))
        top = np.argsort(-vals, kind="stable")
        starts = np.vstack([cand[select_starts(vals, self.n_restarts, rng)], best_X])
        Xr, vr = local_search(acq, starts, self.cols, rng, scale)
        pool = np.vstack([Xr, cand[top[:N_FINAL]]])
        order = np.argsort(-np.concatenate([vr, vals[top[:N_FINAL]]]), kind="stable")
        for i in order:
            x = self.space.snap(pool[[i]])
            if novel(x, exclude)[0]:
                return x
        return None


def _int_option(name: str, value: Any, minimum: int) -> int:
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    ok = ok or (isinstance(value, float) and value.is_integer())
    if not ok or int(value) < minimum:
        raise ValueError(f"{name}={value!r}: expected an integer >= {minimum}")
    return int(value)


def _positive_option(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not (
            math.isfinite(float(value)) and float(value) > 0):
        raise ValueError(f"{name}={value!r}: expected a finite number > 0")
    return float(value)


def _choice_option(name: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name}={value!r}: expected one of {', '.join(choices)}")
    return str(value)
