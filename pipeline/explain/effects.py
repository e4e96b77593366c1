"""How each hyperparameter acts: partial dependence with credible bands, and interaction strength for pairs.

Partial dependence (Friedman 2001, "Greedy function approximation: a gradient boosting machine", section 8.2) of the
surrogate ``f`` on parameter ``j``, over background configurations ``b_1 .. b_M`` (``surrogate.background``: drawn
as a random search draws)::

    PD_j(v) = (1 / M_j) sum_{i in A_j} f(b_i with x_j = v)

where ``A_j`` holds the ``M_j`` configurations at which ``j`` is active once set (all of them for an unconditional
parameter): a conditional parameter's effect is read where it acts. ``f`` is a GP, so ``PD_j(v)`` is Gaussian and its
credible band exact: ``Var PD_j(v) = 1^T Sigma 1 / M_j^2`` with ``Sigma`` the posterior covariance of ``f`` at the
modified configurations (``Surrogate.average``); the band is ``mean +- BAND_Z sd``. It is the model's uncertainty for
this background; the background's own sampling error is not in it.

The grid: every choice of a categorical, every value of an integer (or stepped float) with at most ``n_grid`` of them,
otherwise ``n_grid`` points evenly spaced in the unit encoding (evenly in log for a log-scale parameter).

Pairs (``pair_dependence``) set two parameters on a product grid; their interaction strength is Friedman & Popescu's
``H^2`` (2008, "Predictive learning via rule ensembles", section 8.1, eq. 44), ``h_statistic``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.explain.surrogate import Surrogate, active_mask, unit
from pipeline.search.params import CategoricalParam, Param
from pipeline.search.space import INACTIVE, SearchSpace

N_GRID = 20          # grid points of a continuous parameter's partial dependence
N_PAIR_GRID = 10     # grid points per axis of a pair's
BAND_Z = 1.96        # the credible band: mean +- BAND_Z sd (95% for a Gaussian)
TOP_PAIRS = 3        # pairs drawn and measured by default
FLAT = 1e-12         # a partial dependence whose centred sum of squares is below FLAT * (1 + mean^2) is flat


@dataclass(frozen=True, eq=False)
class Dependence:
    """The partial dependence of the objective on parameter ``name`` at grid ``values`` (the parameter's own values:
    floats, ints, choices): ``mean``, ``sd``, ``lower``, ``upper`` ``(G,)`` in the objective's units, averaged over
    ``n_background`` configurations. ``log``: draw on a log axis; ``note`` says what is unusual (empty if nothing)."""

    name: str
    values: tuple[Any, ...]
    mean: np.ndarray
    sd: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    log: bool
    categorical: bool
    n_background: int
    note: str = ""

    @property
    def range(self) -> float:
        """``max - min`` of the mean: how far the parameter alone moves the objective, in its units."""
        return float(np.ptp(self.mean))

    def best(self, sign: float) -> Any:
        """The grid value with the best mean (``sign``: +1 to minimize, -1 to maximize)."""
        return self.values[int(np.argmin(sign * self.mean))]

    def rows(self) -> list[dict[str, Any]]:
        """One dict per grid value: parameter, value, mean, sd, lower, upper, n_background."""
        return [{"parameter": self.name, "value": v, "mean": float(m), "sd": float(s), "lower": float(lo),
                 "upper": float(hi), "n_background": self.n_background}
                for v, m, s, lo, hi in zip(self.values, self.mean, self.sd, self.lower, self.upper)]


@dataclass(frozen=True, eq=False)
class PairDependence:
    """The partial dependence on parameters ``a`` and ``b`` together: ``mean``, ``sd`` ``(Ga, Gb)`` over the grid
    ``values_a`` x ``values_b``; ``h2`` its interaction strength (``h_statistic``) and ``interaction`` the root mean
    square of its interaction part, in the objective's units; ``n_background`` the fewest configurations a cell
    averaged over."""

    a: str
    b: str
    values_a: tuple[Any, ...]
    values_b: tuple[Any, ...]
    mean: np.ndarray
    sd: np.ndarray
    log_a: bool
    log_b: bool
    categorical_a: bool
    categorical_b: bool
    n_background: int
    h2: float
    interaction: float

    def rows(self) -> list[dict[str, Any]]:
        """One dict per grid cell: a, b, their values, mean, sd, lower, upper."""
        return [{"a": self.a, "b": self.b, "value_a": va, "value_b": vb, "mean": float(self.mean[i, k]),
                 "sd": float(self.sd[i, k]), "lower": float(self.mean[i, k] - BAND_Z * self.sd[i, k]),
                 "upper": float(self.mean[i, k] + BAND_Z * self.sd[i, k])}
                for i, va in enumerate(self.values_a) for k, vb in enumerate(self.values_b)]


def grid_values(p: Param, n_grid: int) -> list[Any]:
    """The values a dependence is evaluated at (module docstring), in increasing order (choices in their order)."""
    if n_grid < 2:
        raise ValueError(f"{n_grid=} must be >= 2")
    if isinstance(p, CategoricalParam) or (p.n_values and p.n_values <= n_grid):
        return p.values()
    return list(dict.fromkeys(p.from_unit(u) for u in np.linspace(0.0, 1.0, n_grid)))


def partial_dependence(sur: Surrogate, name: str, background: Sequence[Mapping[str, Any]],
                       n_grid: int = N_GRID) -> Dependence:
    """``PD_name`` on its grid with its credible band (module docstring).

    A conditional parameter averages over the background configurations where it is active; where it is active at
    none of them (a rare branch), over all of them with its parents moved to make it active (``space.activate``),
    as its ``note`` says.
    """
    space, p = sur.space, _param(sur.space, name)
    values = grid_values(p, n_grid)
    configs, note = list(background), ""
    if not active_mask(space, configs)[:, space.names.index(name)].any():
        configs = [space.activate(c, name) for c in configs]
        note = (f"{name} is active at none of the {len(configs)} background configurations: averaged over them with "
                "its parents set to make it active")
    mean, sd, counts = _averages(sur, configs, [{name: v} for v in values])
    return Dependence(name, tuple(values), mean, sd, mean - BAND_Z * sd, mean + BAND_Z * sd,
                      bool(getattr(p, "log", False)), isinstance(p, CategoricalParam), int(counts.min()), note)


def pair_dependence(sur: Surrogate, a: str, b: str, background: Sequence[Mapping[str, Any]],
                    n_grid: int = N_PAIR_GRID) -> PairDependence:
    """``PD_ab(u, v)``: the surrogate averaged over ``background`` with ``a = u`` and ``b = v``, on the product of
    their grids (``n_grid`` per continuous axis).

    A cell averages over the configurations at which each of ``a`` and ``b`` is active once both are set, where
    that parameter is active at any of them: with a parent and its child, the cells where the child cannot be
    active average over the configurations where the parent is, and the child's value does not matter there.
    """
    if a == b:
        raise ValueError(f"a pair needs two parameters, got {a=} twice")
    pa, pb = _param(sur.space, a), _param(sur.space, b)
    va, vb = grid_values(pa, n_grid), grid_values(pb, n_grid)
    mean, sd, counts = _averages(sur, list(background), [{a: u, b: v} for u in va for v in vb])
    mean, sd = mean.reshape(len(va), len(vb)), sd.reshape(len(va), len(vb))
    return PairDependence(a, b, tuple(va), tuple(vb), mean, sd, bool(getattr(pa, "log", False)),
                          bool(getattr(pb, "log", False)), isinstance(pa, CategoricalParam),
                          isinstance(pb, CategoricalParam), int(counts.min()), h_statistic(mean),
                          math.sqrt(interaction_variance(mean)))


def h_statistic(pd: np.ndarray) -> float:
    """Friedman & Popescu's ``H^2`` of a pair's partial dependence ``pd (Ga, Gb)`` on a product grid::

        H^2 = sum_ik (PD_ab(i, k) - PD_a(i) - PD_b(k))^2 / sum_ik PD_ab(i, k)^2

    every term centred, ``PD_a`` and ``PD_b`` the grid's row and column means (the pair's dependence with the other
    parameter averaged over its grid, i.e. uniformly as a random search draws it). On a product grid the additive
    part ``PD_a + PD_b`` is the least-squares projection of ``PD_ab``, so ``H^2`` in ``[0, 1]`` is the share of the
    pair's joint effect that is not the sum of their separate effects: 0 for ``x + y``, near 1 for ``(x - 1/2)(y -
    1/2)``. A flat ``pd`` gives 0.
    """
    pd = np.asarray(pd, dtype=np.float64)
    if pd.ndim != 2:
        raise ValueError(f"expected a 2-D grid of partial dependence, got shape {pd.shape}")
    c = pd - pd.mean()
    total = float((c ** 2).sum())
    if total <= FLAT * (1.0 + float(pd.mean()) ** 2) * pd.size:
        return 0.0
    return float(np.clip(interaction_variance(pd) * pd.size / total, 0.0, 1.0))


def interaction_variance(pd: np.ndarray) -> float:
    """Mean square ``(1/(Ga Gb)) sum_ik (PD_ab - PD_a - PD_b)^2`` of the interaction part of ``pd (Ga, Gb)`` (all
    centred, ``h_statistic``), in the objective's units squared."""
    c = np.asarray(pd, dtype=np.float64) - np.mean(pd)
    residual = c - c.mean(1, keepdims=True) - c.mean(0, keepdims=True)
    return float((residual ** 2).mean())


def interaction_strength(sur: Surrogate, a: str, b: str, background: Sequence[Mapping[str, Any]],
                         n_grid: int = N_PAIR_GRID) -> float:
    """``H^2`` of the pair ``(a, b)`` (``h_statistic`` of ``pair_dependence``), in ``[0, 1]``."""
    return pair_dependence(sur, a, b, background, n_grid).h2


def top_pairs(importance: Mapping[str, float], k: int = TOP_PAIRS) -> list[tuple[str, str]]:
    """The ``k`` pairs among the fewest most important parameters that make ``k`` pairs, ranked by the product of
    their importances (then their sum; ties in the given order). ``importance``: a value per parameter (fANOVA
    shares, a dependence's range, ...); a pair's parameters come in order of importance."""
    if k < 0:
        raise ValueError(f"{k=} must be >= 0")
    ranked = sorted(importance, key=lambda n: -float(importance[n]))
    m = next((m for m in range(2, len(ranked) + 1) if m * (m - 1) // 2 >= k), len(ranked))
    pairs = list(itertools.combinations(ranked[:m], 2))
    pairs.sort(key=lambda pq: (-float(importance[pq[0]]) * float(importance[pq[1]]),
                               -float(importance[pq[0]]) - float(importance[pq[1]])))
    return pairs[:k]


def _param(space: SearchSpace, name: str) -> Param:
    try:
        return space[name]
    except KeyError:
        raise ValueError(f"parameter {name!r} is not searched; expected one of {space.names}") from None


def _encode_full(space: SearchSpace, configs: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """``(n, d)`` codes of full configurations, every parameter encoded whether active or not."""
    return np.array([[unit(p, c[p.name]) for p in space.params] for c in configs], dtype=np.float64
                    ).reshape(len(configs), space.dim)


def _averages(sur: Surrogate, configs: Sequence[Mapping[str, Any]],
              settings: Sequence[Mapping[str, Any]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, sd and number of configurations ``(S,)`` of the surrogate averaged over ``configs`` with each of
    ``settings`` (values of some parameters) applied, over the configurations ``_rows`` keeps."""
    space = sur.space
    if not configs:
        raise ValueError("partial dependence needs at least one background configuration")
    U = _encode_full(space, configs)
    X = np.repeat(U[None], len(settings), axis=0)
    W = np.ones(X.shape[:2])
    for s, values in enumerate(settings):
        for name, v in values.items():
            X[s, :, space.names.index(name)] = unit(space[name], v)
        if space.conditions:
            mask = active_mask(space, [{**c, **values} for c in configs])
            X[s][~mask] = INACTIVE
            W[s] = _rows(space, mask, values)
    counts = W.sum(1)
    mean, sd = sur.averages(X, W / counts[:, None])
    return mean, sd, counts.astype(int)


def _rows(space: SearchSpace, mask: np.ndarray, values: Mapping[str, Any]) -> np.ndarray:
    """Which configurations a setting of ``values`` averages over, as a boolean ``(n,)``: those where each set
    parameter that is active at any of them is active (``mask (n, d)``, activity once set); for two parameters of
    exclusive branches (each active somewhere, never both), those where either is."""
    cols = [mask[:, space.names.index(n)] for n in values]
    rows = np.ones(len(mask), dtype=bool)
    for col in cols:
        if col.any():
            rows &= col
    if not rows.any():
        rows = np.any(cols, axis=0)
    return rows
