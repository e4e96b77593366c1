"""SweepPlan: how many trials each launch holds, per strategy and option."""

from __future__ import annotations

import pytest

from hydra_plugins.pipeline_sweeper._plan import SweepPlan, _batch_size
from pipeline.search import SearchSpace


def plan(strategy: str, n_jobs: int, batch_size: int | None = None) -> SweepPlan:
    space = SearchSpace.from_grammar({"optimizer.lr": "interval(0.001, 0.1)"})
    return SweepPlan(strategy=strategy, space=space, fixed=[], n_trials=20, n_jobs=n_jobs, direction="maximize",
                     command="python train.py -m", batch_size=batch_size)


@pytest.mark.parametrize("strategy,n_jobs,remaining,expected", [
    ("bayes", 1, 20, 1), ("bayes", 2, 20, 2), ("bayes", 2, 1, 1),   # learns from every batch
    ("random", 1, 20, 4), ("random", 2, 20, 8), ("random", 2, 3, 3),  # free workers take the next trial
    ("grid", 2, 20, 8),
])
def test_default_batch_follows_the_strategy(strategy, n_jobs, remaining, expected):
    assert plan(strategy, n_jobs).batch(remaining) == expected


def test_batch_size_option_wins_and_is_checked():
    assert plan("bayes", 2, batch_size=6).batch(20) == 6 and plan("random", 2, batch_size=2).batch(20) == 2
    assert _batch_size({}) is None and _batch_size({"batch_size": 3}) == 3
    for bad in (0, -1, 2.5, "4"):
        with pytest.raises(ValueError, match=r"hydra.sweeper.batch_size=.* expected an integer >= 1"):
            _batch_size({"batch_size": bad})
