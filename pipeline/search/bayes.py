"""``bayes``: Gaussian-process Bayesian optimization behind the ask/tell ``Optimizer`` API."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence
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
from pipeline.search.ehvi import make_mo_acquisition
from pipeline.search.gp import FIT_MAX_POINTS, GP, fit_gp, fit_subset
from pipeline.search.initial import default_n_initial, fresh_points, novel, unique_count
from pipeline.search.pareto import non_dominated, nondominated_boxes, reference_point, thin_front
from pipeline.search.space import INACTIVE, SearchSpace
from pipeline.search.warping import WARPINGS, standardize, warp
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
      warping: output transform ``"power"`` (default with one objective), ``"rank"`` or ``"standardize"`` (default
        with several).
      n_candidates: Sobol candidates scored per proposal; n_restarts: best ones refined locally.
      n_threads: torch/BLAS threads while proposing (restored afterwards), so it coexists with training;
        histories under ``PARALLEL_MIN_POINTS`` use one.
      fit_points: hyperparameters are fitted on at most this many observations (``gp.fit_subset``),
        then the GP is conditioned on all of them; ``None`` = ``gp.FIT_MAX_POINTS``.
      log_objectives: with several objectives, one flag each: model that objective's log (while all its told
        values are positive), for counts that span decades such as a parameter count (``objective.Cost.log_scale``;
        the sweeper sets it). The hypervolume improved is then the one on that log axis: a network 10x smaller
        counts alike at 1k and at 100k parameters. Standardising a raw count of 170..1.2M flattened every
        difference among small networks (accuracy against size on digits, median hypervolume at 60 trials: 1.556
        raw, 1.647 on the log scale; ``bench/results/mo_architecture.txt``).

    History handling: failed trials are left out of the model (a failure says nothing about the
    loss) but their points are never proposed again. Pruned trials enter as pessimistic observations:
    their last reported loss, raised to at least the median completed loss, since a pruner stopped them
    for looking no better than typical. Batches (``ask(n)``, and trials still running) use the kriging
    believer, so points in one batch are distinct and spread out. A finite space returns fewer points
    once it is exhausted.

    Several objectives and constraints (``_propose_constrained``): one GP per objective (each on its own warped
    losses) and one per constraint (on ``asinh`` of its value, which keeps the limit at 0); the acquisition is the
    log expected hypervolume improvement over the feasible front (``ehvi.log_ehvi``; exact for independent GPs,
    as Optuna's ``GPSampler`` LogEHVI and BoTorch's qLogEHVI, without their Monte Carlo error), plus the log
    probability of feasibility; with one objective and constraints, that is constrained LogEI (Gardner et al.
    2014). Until a feasible trial exists, it maximizes the probability of feasibility alone. The front and the
    reference point are taken in each objective's scale on the GPs: the posterior mean at the feasible trials, and
    the worst value told plus a tenth of the range (``pareto.reference_point``). With several objectives the
    values are standardised, not power-warped (``warping``'s default): an affine map per objective keeps the
    front's shape, so the hypervolume improved is the true one up to a factor per axis (DTLZ2: 0.245 -> 0.352
    median; a reference from the front's own nadir did better there, 0.463, but lost the extremes of ZDT1's
    convex front, 120.6 -> 113, and was left out). Running trials are believed at
    their posterior mean in every GP, and join the front where they are more likely feasible than not.
    """

    def __init__(self, space: SearchSpace, seed: int = 0, direction: str | Sequence[str] = MINIMIZE, *,
                 n_initial: int | None = None, acquisition: str = "logei", ucb_beta: float = DEFAULT_UCB_BETA,
                 warping: str | None = None, n_candidates: int = DEFAULT_N_CANDIDATES,
                 n_restarts: int = DEFAULT_N_RESTARTS, n_threads: int = 1, fit_points: int | None = None,
                 log_objectives: Sequence[bool] | None = None, **unknown: Any) -> None:
        super().__init__(space, seed=seed, direction=direction)
        if unknown:
            raise ValueError(f"unknown option(s) {sorted(unknown)} for strategy 'bayes'; expected some of "
                             "n_initial, acquisition, ucb_beta, warping, n_candidates, n_restarts, n_threads, "
                             "fit_points, log_objectives")
        self.n_initial = (default_n_initial(space.dim, space.cardinality()) if n_initial is None
                          else _int_option("n_initial", n_initial, 0))
        self.acquisition = _choice_option("acquisition", acquisition, ACQUISITIONS)
        self.ucb_beta = _positive_option("ucb_beta", ucb_beta)
        # several objectives: an affine warp keeps each objective's geometry, so the hypervolume the acquisition
        # improves is the true one up to a factor per axis; a power warp would bend the front
        default = "standardize" if self.multi else "power"
        self.warping = _choice_option("warping", default if warping is None else warping, WARPINGS)
        self.n_candidates = _int_option("n_candidates", n_candidates, 1)
        self.n_restarts = _int_option("n_restarts", n_restarts, 1)
        self.n_threads = _int_option("n_threads", n_threads, 1)
        self.fit_points = FIT_MAX_POINTS if fit_points is None else _int_option("fit_points", fit_points, 2)
        self.log_objectives = _flags("log_objectives", log_objectives, self.n_objectives)
        self.cols = Columns.from_space(space)
        self._thetas: dict[Any, np.ndarray] = {}  # each model's last MAP hyperparameters: warm start of the next fit
        self._fitted_on: dict[Any, int] = {}  # observations in the history when its ``_thetas`` were fitted
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
                model = self._propose_constrained if self.constrained else self._propose_model
                out = np.vstack([out, model(n - len(out), X, y, exclude, out, rng)])
            return out

    @property
    def constrained(self) -> bool:
        """Several objectives, or constraint values told: the models of ``_propose_constrained``."""
        return self.multi or any(t.constraints is not None for t in self.trials)

    def training_data(self) -> tuple[np.ndarray, np.ndarray]:
        """Encoded points ``(n, d)`` and losses ``(n,)`` the GP learns from (see class docstring); ``(n, m)``,
        one column per objective, with several."""
        if self.multi:
            X, Y, _ = self.observed_multi((TrialState.COMPLETE,))
            Xp, Yp, _ = self.observed_multi((TrialState.PRUNED,))
            if len(Yp) and len(Y):
                Yp = np.maximum(Yp, np.median(Y, axis=0))
            return np.vstack([X, Xp]), np.vstack([Y, Yp])
        X, y = self.observed((TrialState.COMPLETE,))
        Xp, yp = self.observed((TrialState.PRUNED,))
        if len(yp) and len(y):
            yp = np.maximum(yp, np.median(y))
        return np.vstack([X, Xp]), np.concatenate([y, yp])

    def fit(self, X: np.ndarray, y: np.ndarray, key: Any = 0) -> GP:
        """MAP-fit the GP to warped losses (on at most ``fit_points`` of them), warm-started from the
        previous fit, and condition it on all of them. Past ``fit_points`` observations the previous fit is
        kept until the history has grown by ``REFIT_GROWTH``: a subset of that size moves little between asks,
        and the fit is most of an ask's cost at a thousand observations. ``key`` names the model (one per
        objective and constraint), whose previous fit is its own."""
        return self.fit_transformed(X, warp(y, self.warping), key)

    def fit_transformed(self, X: np.ndarray, z: np.ndarray, key: Any = 0) -> GP:
        """``fit`` of values already on the GP's scale (mean 0, std 1)."""
        theta, fitted_on = self._thetas.get(key), self._fitted_on.get(key, 0)
        if theta is not None and self.fit_points < len(z) < fitted_on * (1 + REFIT_GROWTH):
            return GP(X, z, self.space.is_categorical, theta)
        idx = fit_subset(z, self.fit_points, np.random.default_rng([self.seed, len(z)]))
        starts = [] if theta is None else [theta]
        gp = fit_gp(X[idx], z[idx], self.space.is_categorical, starts)
        self._thetas[key], self._fitted_on[key] = gp.theta, len(z)
        return gp if len(idx) == len(z) else GP(X, z, self.space.is_categorical, gp.theta)

    def constraint_data(self) -> tuple[np.ndarray, np.ndarray]:
        """Encoded points ``(n, d)`` and constraint values ``(n, k)`` of the ended trials that have them."""
        ts = [t for t in self.trials if t.constraints is not None and t.state != TrialState.FAILED]
        k = max((len(t.constraints) for t in ts), default=0)
        ts = [t for t in ts if len(t.constraints) == k]
        return self.space.encode(t.params for t in ts), np.array([t.constraints for t in ts]).reshape(len(ts), k)

    def _propose_constrained(self, n: int, X: np.ndarray, Y: np.ndarray, exclude: np.ndarray, running: np.ndarray,
                             rng: np.random.Generator) -> np.ndarray:
        """``n`` points by log EHVI times the probability of feasibility (class docstring), one by one, each
        believed in every model before the next."""
        exclude = np.vstack([exclude, running])
        Y = Y.reshape(len(X), -1)
        pend = np.vstack([self.pending_X, running])
        feasible = self._feasible_rows(X)
        try:
            objectives = [fantasize(self.fit(X, self._on_scale(Y[:, j], j), key=j), pend) for j in range(Y.shape[1])]
            Xc, C = self.constraint_data()
            constraints, thresholds = [], []
            for k in range(C.shape[1]):
                z, t = _constraint_scale(C[:, k])
                constraints.append(fantasize(self.fit_transformed(Xc, z, key=("constraint", k)), pend))
                thresholds.append(t)
        except (np.linalg.LinAlgError, RuntimeError, ValueError) as err:
            log.warning("bayes: GP unavailable (%s); proposing quasi-random points", err)
            return fresh_points(self.space, self.cols, self.seed, exclude, n, rng)
        front_X = X[feasible] if feasible.any() else X
        out = np.zeros((0, self.space.dim))
        for _ in range(n):
            boxes = self._front_boxes(objectives, constraints, thresholds, X[feasible], np.vstack([pend, out]))
            acq = make_mo_acquisition(objectives, boxes, constraints, thresholds)
            acq = self._on_active(acq) if self.space.conditions else acq
            starts = front_X[rng.choice(len(front_X), size=min(N_BEST_STARTS, len(front_X)), replace=False)]
            size = len(self.trials) * (len(objectives) + len(constraints)) + (0 if boxes is None else boxes[0].size)
            x = self._maximize(acq, np.vstack([exclude, out]), starts, rng, objectives[0].lengthscales, size)
            if x is None:
                x = fresh_points(self.space, self.cols, self.seed, np.vstack([exclude, out]), 1, rng)
                if len(x) == 0:
                    break
            out = np.vstack([out, x])
            objectives = [fantasize(g, x) for g in objectives]
            constraints = [fantasize(g, x) for g in constraints]
        return out

    def _on_scale(self, y: np.ndarray, j: int) -> np.ndarray:
        """Objective ``j``'s losses as its GP models them: their log where ``log_objectives`` says so and every
        value is positive (a maximized count arrives negated: left as it is)."""
        return np.log(y) if self.log_objectives[j] and len(y) and (y > 0).all() else y

    def _feasible_rows(self, X: np.ndarray) -> np.ndarray:
        """Which rows of the training data (complete trials, then pruned ones) are complete feasible trials."""
        done = [t for t in self.trials if t.state == TrialState.COMPLETE and t.value is not None]
        mask = np.zeros(len(X), dtype=bool)
        mask[:len(done)] = [t.feasible for t in done]
        return mask

    @staticmethod
    def _front_boxes(objectives: list[GP], constraints: list[GP], thresholds: list[float], X_feasible: np.ndarray,
                     X_running: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """The non-dominated region to improve on, in the objectives' GP scale: below the front of the posterior
        means at the feasible trials and at running ones likely feasible; None before any feasible trial."""
        if len(X_feasible) == 0:
            return None
        means = np.column_stack([g.mean_np(X_feasible) for g in objectives])
        ref = reference_point(np.column_stack([g.y.numpy()[:len(g.y) - g.n_fantasies] for g in objectives]))
        if len(X_running):
            believed = np.column_stack([g.mean_np(X_running) for g in objectives])
            if constraints:
                pof = np.ones(len(X_running))
                for g, t in zip(constraints, thresholds):
                    mu, var = g.posterior_np(X_running)
                    pof *= 0.5 * (1.0 + _erf((t - mu) / np.sqrt(2.0 * np.maximum(var, 1e-24))))
                believed = believed[pof >= 0.5]
            means = np.vstack([means, believed])
        front = means[non_dominated(means)]
        front = front[thin_front(front)]
        return nondominated_boxes(front, np.maximum(ref, front.max(0) + 1e-9))

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
                  scale: np.ndarray | None = None, size: int | None = None) -> np.ndarray | None:
        """The unused point ``(1, d)`` with the highest acquisition found (``scale``: GP lengthscales), or None.
        ``size``: what one candidate's evaluation costs, in observations (default: the history's length)."""
        size = len(self.trials) if size is None else size
        if self.cols.cardinality() <= EXHAUSTIVE_MAX:
            if self._grid is None:
                self._grid = self.space.snap(enumerate_points(self.cols))
            pool = self._grid[novel(self._grid, exclude)]
            return pool[[int(np.argmax(acq_values(acq, pool, size)))]] if len(pool) else None
        cand = candidates(self.cols, rng, self.n_candidates)
        vals = acq_values(acq, cand, size)
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


def _constraint_scale(c: np.ndarray) -> tuple[np.ndarray, float]:
    """Constraint values ``c (n,)`` (met when <= 0) on a GP's scale, and where the limit 0 falls on it: ``asinh``
    of ``c`` over its median magnitude (monotone, 0 stays 0, a parameter count's orders of magnitude compress),
    then standardized."""
    scale = float(np.median(np.abs(c))) or 1.0
    z = np.arcsinh(np.asarray(c, dtype=float) / scale)
    s = float(np.std(z))
    if s == 0.0 or not np.isfinite(s):
        return np.zeros_like(z), (1.0 if z.size and z[0] <= 0 else -1.0)
    return standardize(z), float(-np.mean(z) / s)


def _erf(x: np.ndarray) -> np.ndarray:
    from scipy.special import erf

    return erf(x)


def _flags(name: str, value: Sequence[bool] | None, n: int) -> tuple[bool, ...]:
    """One flag per objective (all False when ``value`` is None)."""
    if value is None:
        return (False,) * n
    flags = tuple(value) if isinstance(value, (list, tuple)) else ()
    if len(flags) != n or not all(isinstance(f, bool) for f in flags):
        raise ValueError(f"{name}={value!r} is invalid: expected {n} true/false flags, one per objective")
    return flags


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
