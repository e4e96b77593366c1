"""Pruner decisions on hand-made histories, both directions."""

from __future__ import annotations

import math

import pytest

from pipeline.pruning.rules import asha_promotable, median_prune, rung_step, value_at

CURVES = [{1: 0.5, 2: 0.6, 3: 0.7}, {1: 0.3, 2: 0.4}, {1: 0.8, 2: 0.85, 3: 0.9}]


def test_value_is_carried_forward_after_a_curve_ends():
    assert value_at(CURVES[1], 3) == 0.4 and value_at(CURVES[1], 1) == 0.3 and value_at({2: 1.0}, 1) is None


@pytest.mark.parametrize("value,step,maximize,expected", [
    (0.55, 2, True, True),    # median at step 2 of (0.6, 0.4, 0.85) is 0.6
    (0.65, 2, True, False),
    (0.65, 3, True, True),    # step 3: (0.7, 0.4 carried, 0.9) -> 0.7
    (0.55, 2, False, False),  # minimizing: below the median is good
    (0.65, 2, False, True),
])
def test_median_rule(value, step, maximize, expected):
    assert median_prune(value, step, CURVES, maximize, n_startup_trials=3, n_warmup_steps=0) is expected


def test_median_waits_for_startup_trials_and_warmup():
    assert not median_prune(0.0, 2, CURVES, True, n_startup_trials=4)
    assert not median_prune(0.0, 2, CURVES, True, n_startup_trials=1, n_warmup_steps=3)
    assert median_prune(0.0, 3, CURVES, True, n_startup_trials=1, n_warmup_steps=3)
    assert median_prune(math.nan, 1, [], True)


def test_rungs_grow_geometrically():
    assert [rung_step(r, 2, 3) for r in range(3)] == [2, 6, 18]
    assert rung_step(0, 2, 3, min_early_stopping_rate=1) == 6


@pytest.mark.parametrize("maximize", [True, False])
def test_asha_keeps_the_top_third(maximize):
    values = [0.1 * i for i in range(1, 10)]  # nine trials at the rung, keep the best three
    good = values[-3:] if maximize else values[:3]
    for v in values:
        assert asha_promotable(v, values, reduction_factor=3, maximize=maximize) is (v in good)


def test_asha_promotes_only_the_best_until_the_rung_fills():
    assert asha_promotable(0.5, [0.5], 3, maximize=True)
    assert asha_promotable(0.6, [0.5, 0.6], 3, maximize=True)
    assert not asha_promotable(0.4, [0.5, 0.4], 3, maximize=True)
    assert asha_promotable(0.4, [0.5, 0.4], 3, maximize=False)
