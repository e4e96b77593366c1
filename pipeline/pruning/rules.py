"""Pruning rules as pure functions over intermediate values (semantics of Optuna's Median and
SuccessiveHalving pruners, written for our steps: epochs counted across folds).

A *curve* maps step -> intermediate objective; a curve that ended before ``step`` (early stopping)
contributes its last value ("carried forward").
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence

Curve = Mapping[int, float]
PRUNERS = ("none", "median", "asha")  # pruning.pruner / hydra.sweeper.pruner
MULTI_PRUNERS = ("none", "median")  # those that compare several objectives (``pareto_median_prune``)
# The pruners' counts (pruning.<key> / hydra.sweeper.<key>) and the least each may be.
MINIMUMS = {"n_startup_trials": 0, "n_warmup_steps": 0, "min_resource": 1, "reduction_factor": 2,
            "min_early_stopping_rate": 0}


def value_at(curve: Curve, step: int) -> float | None:
    """The curve's value at ``step``, carried forward from the last earlier step; None before its start."""
    steps = sorted(curve)
    i = bisect.bisect_right(steps, step)
    return None if i == 0 else curve[steps[i - 1]]


def median_prune(value: float, step: int, completed: Sequence[Curve], maximize: bool, n_startup_trials: int = 5,
                 n_warmup_steps: int = 0) -> bool:
    """Prune when ``value`` at ``step`` is worse than the median of completed trials at that step.

    Nothing is pruned before ``n_startup_trials`` trials completed, nor before ``n_warmup_steps``.
    """
    if math.isnan(value):
        return True
    if len(completed) < n_startup_trials or step < n_warmup_steps:
        return False
    others = sorted(v for v in (value_at(c, step) for c in completed) if v is not None and math.isfinite(v))
    if not others:
        return False
    mid = len(others) // 2
    median = others[mid] if len(others) % 2 else 0.5 * (others[mid - 1] + others[mid])
    return value < median if maximize else value > median


def rung_step(rung: int, min_resource: int, reduction_factor: int, min_early_stopping_rate: int = 0) -> int:
    """The step at which a trial reaches ``rung``: ``min_resource * reduction_factor ** (rate + rung)``."""
    return min_resource * reduction_factor ** (min_early_stopping_rate + rung)


def asha_promotable(value: float, competing: Sequence[float], reduction_factor: int, maximize: bool) -> bool:
    """Whether ``value`` is in the top ``1 / reduction_factor`` of ``competing`` (which includes it).

    While fewer than ``reduction_factor`` trials reached the rung, only the best one so far is promoted
    (asynchronous successive halving cannot wait for the rung to fill; Optuna does the same).
    """
    if math.isnan(value):
        return False
    ordered = sorted(v for v in competing if math.isfinite(v))
    k = max(len(ordered) // reduction_factor - 1, 0)
    return value >= ordered[-(k + 1)] if maximize else value <= ordered[k]


def pareto_median_prune(values: Sequence[float], completed: Sequence[Sequence[float]], signs: Sequence[float],
                        step: int, n_startup_trials: int = 5, n_warmup_steps: int = 0) -> bool:
    """Several objectives: prune when ``values`` at ``step`` are dominated by more than half of the completed trials'
    values at that step (``signs``: +1 minimize, -1 maximize, per objective).

    With one objective this is the median rule (worse than more than half); with several, a trial that is worse
    in one objective but better in another (a smaller, less accurate model) is not dominated, so the pruner keeps
    every trial that could still reach the Pareto front and stops only those the completed trials beat on all.
    """
    if any(math.isnan(v) for v in values):
        return True
    if len(completed) < n_startup_trials or step < n_warmup_steps:
        return False
    mine = [s * v for s, v in zip(signs, values)]
    others = [[s * v for s, v in zip(signs, c)] for c in completed if all(math.isfinite(v) for v in c)]
    if not others:
        return False
    dominating = sum(all(o <= m for o, m in zip(c, mine)) and any(o < m for o, m in zip(c, mine)) for c in others)
    return dominating > len(others) / 2
