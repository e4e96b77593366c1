"""Search spaces and ask/tell optimizers (grid, random, Bayesian, evolution); independent of Hydra's runtime."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pipeline.objective import MINIMIZE
from pipeline.search.base import Optimizer, Trial
from pipeline.search.space import CategoricalParam, FloatParam, IntParam, SearchSpace

STRATEGIES = ("grid", "random", "bayes", "evolution")


def make_optimizer(strategy: str, space: SearchSpace, seed: int = 0, direction: str | Sequence[str] = MINIMIZE,
                   **options: Any) -> Optimizer:
    """Create the optimizer for ``strategy`` (``grid``, ``random``, ``bayes`` or ``evolution``) over ``space``."""
    if strategy == "grid":
        from pipeline.search.grid import GridOptimizer as cls
    elif strategy == "random":
        from pipeline.search.random import RandomOptimizer as cls
    elif strategy == "bayes":
        from pipeline.search.bayes import BayesOptimizer as cls
    elif strategy == "evolution":
        from pipeline.search.evolution import EvolutionOptimizer as cls
    else:
        raise ValueError(f"unknown strategy {strategy!r}; expected one of {', '.join(STRATEGIES)}")
    return cls(space, seed=seed, direction=direction, **options)


__all__ = ["CategoricalParam", "FloatParam", "IntParam", "Optimizer", "SearchSpace", "STRATEGIES", "Trial",
           "make_optimizer"]
