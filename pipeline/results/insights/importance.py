"""Which parameters mattered: fANOVA main effects of a random-forest surrogate fitted to the trials.

The method of Hutter, Hoos & Leyton-Brown, "An Efficient Approach for Assessing Hyperparameter
Importance" (ICML 2014), also behind optuna's ``FanovaImportanceEvaluator``:

1. encode the complete trials' parameters in the unit cube with the search space's own encoding
   (log-scale parameters in log, a categorical's choices as equal cells), so that the uniform
   measure on the cube is the distribution a random search draws from;
2. fit a random forest to ``(x, objective)``;
3. a tree is constant on each leaf's box ``B_l`` (value ``v_l``), so its functional-ANOVA
   decomposition under the uniform measure is exact::

       m = sum_l |B_l| v_l,     V = sum_l |B_l| (v_l - m)^2                 (mean, variance)
       E[f | x_j = u] = sum_{l: u in B_l,j} v_l |B_l| / w_lj                 (w_lj: width of B_l along j)
       V_j = integral_0^1 (E[f | x_j = u] - m)^2 du                         (main effect of j)

   where ``E[f | x_j]`` is constant between the tree's split points on ``j``;
4. the importance of ``j`` is ``V_j / V`` averaged over the trees, normalised to sum to one;
   ``main_effects_share`` (the mean of ``sum_j V_j / V``) says how much of the surrogate's
   variance single parameters explain, the rest being interactions.

Its uncertainty is the standard deviation of ``V_j / V`` across the trees (as the original fANOVA
reports it): each tree is fitted to a bootstrap sample of the trials, so the spread says how much
the answer depends on which trials happened to be run. Where it exceeds the importance itself, the
sweep cannot tell whether the parameter matters, and the report says so.

No importance is computed below ``min_trials(d) = max(10, d + 4)`` complete trials. In a simulation
(``d`` uniform parameters, one with a strong effect, one weak, a little noise; 20 repetitions each)
the strong parameter was ranked first in only 25-55% of repetitions from 3-5 trials at ``d = 4..6``,
with its spread exceeding its value in most of them, and in 90-100% from ``max(10, d + 4)`` trials on
for ``d`` from 2 to 14; weaker effects need more, which the spread then shows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.results.insights.history import SweepHistory
from pipeline.search.space import SearchSpace

N_TREES = 64       # as optuna's fANOVA evaluator
MAX_DEPTH = 64
MIN_TRIALS = 10    # fewer complete trials than min_trials(d) = max(MIN_TRIALS, d + EXTRA_TRIALS): no importance
EXTRA_TRIALS = 4
MISSING_UNIT = 0.5  # encoding of a value absent from a trial or outside the space: mid-range


def method_name(n_trees: int = N_TREES) -> str:
    return (f"fANOVA main effects on a random-forest surrogate ({n_trees} trees, scikit-learn "
            "RandomForestRegressor) of the complete trials")


@dataclass(frozen=True)
class Importance:
    """Normalised importances ``values`` ``(d,)`` (sum 1, or all 0 for a flat objective) and their spread."""

    method: str
    names: tuple[str, ...]
    values: np.ndarray
    std: np.ndarray            # standard deviation across the forest's trees, same scale as ``values``
    main_effects_share: float  # in [0, 1]
    n_trials: int

    def ranked(self) -> list[tuple[str, float, float]]:
        """``(name, importance, std)``, most important first."""
        order = np.argsort(-self.values, kind="stable")
        return [(self.names[i], float(self.values[i]), float(self.std[i])) for i in order]

    def as_dict(self) -> dict[str, float]:
        return {n: float(v) for n, v in zip(self.names, self.values)}

    def uncertain(self) -> list[str]:
        """Parameters whose spread across trees exceeds their importance, most important first."""
        return [n for n, v, s in self.ranked() if s > v]

    def as_json(self) -> dict[str, Any]:
        """What ``report/importance.json`` holds."""
        return {"method": self.method, "n_trials": self.n_trials, "main_effects_share": self.main_effects_share,
                "uncertainty": "standard deviation across the forest's trees",
                "ranked": [{"parameter": n, "importance": v, "std": s, "uncertain": s > v}
                           for n, v, s in self.ranked()]}


def min_trials(n_params: int) -> int:
    """Complete trials needed before importance is ranked (see the module docstring for why)."""
    return max(MIN_TRIALS, n_params + EXTRA_TRIALS)


def trials_needed(history: SweepHistory) -> int:
    """How many more complete trials the sweep needs before its importance is ranked (0: none)."""
    return max(0, min_trials(history.space.dim) - len(history.ranked()))


def importance_note(history: SweepHistory, importance: Importance | None) -> str:
    """One or two sentences on what the importance can be trusted for (the report's and the terminal's)."""
    n, d = len(history.ranked()), history.space.dim
    if not d:
        return "No searched parameter: nothing to rank."
    if importance is None:
        more = trials_needed(history)
        return (f"Not ranked: {n} complete trial{'s' * (n != 1)}, and {min_trials(d)} are needed for {d} "
                f"parameter{'s' * (d != 1)}; {more} more complete trial{'s' * (more != 1)} needed.")
    shaky = importance.uncertain()
    if not shaky:
        return f"Ranked from {n} complete trials; every importance exceeds its spread across trees."
    if len(shaky) == len(importance.names):
        return (f"Ranked from {n} complete trials, but every parameter's spread across trees exceeds its "
                "importance: the ranking is not reliable yet; more trials will narrow it.")
    return (f"Ranked from {n} complete trials. Uncertain (spread across trees exceeds the importance): "
            f"{', '.join(shaky)}.")


def sweep_importance(history: SweepHistory, seed: int = 0, n_trees: int = N_TREES) -> Importance | None:
    """Importance of the sweep's parameters, or None below ``min_trials`` complete trials."""
    rows = history.ranked()
    if trials_needed(history) or not history.space.names:
        return None
    X = encode(history.space, [r.params for r in rows])
    y = np.array([r.value for r in rows], dtype=np.float64)
    overall = fanova_importance(X, y, history.space.names, seed=seed, n_trees=n_trees)
    if not history.space.conditions:
        return overall
    return where_active(history.space, X, y, [r.params for r in rows], overall, seed, n_trees)


def where_active(space: SearchSpace, X: np.ndarray, y: np.ndarray, points: Sequence[Mapping[str, Any]],
                  overall: Importance, seed: int, n_trees: int) -> Importance:
    """Importance on a conditional space: a conditional parameter's effect is measured on the trials where it is
    active (a forest of those trials, where its value means something), weighted by the share of trials where it
    is active; the others' as over all trials; then normalised together. Below ``min_trials`` trials where it is
    active, a parameter is not ranked (0, its spread 1: uncertain)."""
    values, std = overall.values.copy(), overall.std.copy()
    active = np.array([[p.name in set(space.active(point)) for p in space.params] for point in points])
    for j, name in enumerate(space.names):
        if name not in space.conditions:
            continue
        rows = active[:, j]
        if rows.sum() < min_trials(int(active[rows].any(0).sum())) or np.ptp(y[rows]) == 0:
            values[j], std[j] = 0.0, 1.0
            continue
        local = fanova_importance(X[rows], y[rows], space.names, seed=seed, n_trees=n_trees)
        share = float(rows.mean())
        values[j], std[j] = local.values[j] * share, local.std[j] * share
    scale = values.sum() if values.sum() > 0 else 1.0
    method = overall.method + "; a conditional parameter's effect on the trials where it is active"
    return Importance(method, overall.names, values / scale, std / scale, overall.main_effects_share,
                      overall.n_trials)


def encode(space: SearchSpace, points: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """``(n, d)`` unit-cube encoding; a missing or foreign value (e.g. a parameter its model lacks) -> 0.5."""
    X = np.full((len(points), space.dim), MISSING_UNIT)
    for i, point in enumerate(points):
        for j, p in enumerate(space.params):
            try:
                X[i, j] = p.to_unit(p.check(point[p.name]))
            except (KeyError, ValueError, TypeError):
                pass
    return X


def fanova_importance(X: np.ndarray, y: np.ndarray, names: Sequence[str], seed: int = 0,
                      n_trees: int = N_TREES) -> Importance:
    """fANOVA importance from unit-cube points ``X`` ``(n, d)`` and finite objective values ``y`` ``(n,)``."""
    from sklearn.ensemble import RandomForestRegressor

    X, y = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if X.ndim != 2 or X.shape != (len(y), len(names)) or len(y) < 2:
        raise ValueError(f"expected X (n, {len(names)}) and y (n,) with n >= 2, got {X.shape=} {y.shape=}")
    if not (np.isfinite(y).all() and ((X >= 0) & (X <= 1)).all()):
        raise ValueError("y must be finite and X inside the unit cube [0, 1]^d")
    forest = RandomForestRegressor(n_estimators=n_trees, max_depth=MAX_DEPTH, random_state=seed).fit(X, y)
    fractions = []
    for tree in forest.estimators_:
        effects, total = tree_main_effects(*leaf_boxes(tree, X.shape[1]))
        if total > 1e-12 * max(1.0, float(np.mean(y ** 2))):  # a flat tree (bootstrap of equal values) says nothing
            fractions.append(effects / total)
    d = len(names)
    if not fractions:
        return Importance(method_name(n_trees), tuple(names), np.zeros(d), np.zeros(d), 0.0, len(y))
    F = np.array(fractions)                                       # (trees, d)
    mean = F.mean(0)
    scale = mean.sum() if mean.sum() > 0 else 1.0
    return Importance(method_name(n_trees), tuple(names), mean / scale, F.std(0) / scale,
                      float(np.clip(F.sum(1).mean(), 0.0, 1.0)), len(y))


def leaf_boxes(tree: Any, d: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boxes ``lo, hi`` ``(L, d)`` and values ``(L,)`` of a fitted scikit-learn tree's leaves in ``[0, 1]^d``.

    scikit-learn sends ``x`` left when ``x[feature] <= threshold``; the boundary has measure zero.
    """
    t = tree.tree_
    lows, highs, values = [], [], []
    stack = [(0, np.zeros(d), np.ones(d))]
    while stack:
        node, lo, hi = stack.pop()
        left, right = t.children_left[node], t.children_right[node]
        if left == -1:
            lows.append(lo), highs.append(hi), values.append(float(t.value[node].ravel()[0]))
            continue
        j = t.feature[node]
        cut = min(max(float(t.threshold[node]), lo[j]), hi[j])
        left_hi, right_lo = hi.copy(), lo.copy()
        left_hi[j], right_lo[j] = cut, cut
        stack += [(left, lo, left_hi), (right, right_lo, hi)]
    return np.array(lows), np.array(highs), np.array(values)


def tree_main_effects(lo: np.ndarray, hi: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, float]:
    """Main-effect variances ``V_j`` ``(d,)`` and total variance ``V`` of a function constant on boxes.

    ``lo, hi`` ``(L, d)`` must partition the unit cube; ``values`` ``(L,)`` are the boxes' values.
    """
    widths = hi - lo
    volume = widths.prod(1)
    mean = float(volume @ values)
    total = float(volume @ (values - mean) ** 2)
    effects = np.zeros(lo.shape[1])
    for j in range(lo.shape[1]):
        cuts = np.unique(np.concatenate([[0.0, 1.0], lo[:, j], hi[:, j]]))
        mids, cells = (cuts[:-1] + cuts[1:]) / 2, np.diff(cuts)
        inside = (lo[None, :, j] <= mids[:, None]) & (mids[:, None] < hi[None, :, j])  # (cells, L)
        section = np.divide(volume, widths[:, j], out=np.zeros_like(volume), where=widths[:, j] > 0)
        conditional = inside @ (section * values)                                     # E[f | x_j in cell]
        effects[j] = float(cells @ (conditional - mean) ** 2)
    return effects, total
