"""Random search: seeded sequences, bounds and scales, coverage, resume, failures, best()."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from pipeline.search import SearchSpace, make_optimizer
from pipeline.search.random import RandomOptimizer

GRAMMAR = {"optimizer.lr": "tag(log, interval(1e-5, 1.0))",
           "model.hidden_dim": "tag(log, int(interval(16, 512)))",
           "model.dropout": "interval(0.0, 0.5)",
           "optimizer": "choice(sgd,adam)",
           "epochs": "3"}
SPACE = SearchSpace.from_grammar(GRAMMAR)
SAMPLERS = ["sobol", "uniform"]


def rand(sampler: str = "sobol", seed: int = 0, space: SearchSpace = SPACE, **kw) -> RandomOptimizer:
    return make_optimizer("random", space, seed=seed, sampler=sampler, **kw)


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_same_seed_same_sequence_whatever_the_batching(sampler: str) -> None:
    one_go = rand(sampler).ask(8)
    opt = rand(sampler)
    batched = opt.ask(3) + opt.ask(1) + opt.ask(4)
    assert one_go == batched
    assert rand(sampler, seed=1).ask(8) != one_go


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_bounds_types_and_fixed_values(sampler: str) -> None:
    for p in rand(sampler).ask(300):
        assert p["epochs"] == 3
        assert type(p["optimizer.lr"]) is float and 1e-5 <= p["optimizer.lr"] <= 1.0
        assert type(p["model.hidden_dim"]) is int and 16 <= p["model.hidden_dim"] <= 512
        assert type(p["model.dropout"]) is float and 0.0 <= p["model.dropout"] <= 0.5
        assert p["optimizer"] in ("sgd", "adam")


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_log_scale_is_log_uniform(sampler: str) -> None:
    points = rand(sampler).ask(1024)
    lr = np.array([p["optimizer.lr"] for p in points])
    assert abs(math.log10(np.median(lr)) - math.log10(math.sqrt(1e-5 * 1.0))) < 0.15  # geometric mean 10^-2.5
    assert 0.2 < np.mean(lr < 1e-4) < 0.3  # one decade of five
    hidden = np.array([p["model.hidden_dim"] for p in points])
    assert 0.45 < np.mean(hidden <= math.sqrt(16 * 512)) < 0.55


def test_sobol_fills_every_bin() -> None:
    space = SearchSpace.from_grammar({"x": "interval(0,1)"})
    x = np.array([p["x"] for p in rand("sobol", space=space).ask(16)])
    assert sorted(np.floor(x * 16).astype(int).tolist()) == list(range(16))


def test_sobol_balances_categories_in_every_column() -> None:
    space = SearchSpace.from_grammar({"x": "interval(0,1)", "c": "choice(a,b,c,d)", "n": "range(0,8)"})
    points = rand("sobol", seed=3, space=space).ask(64)
    assert [sum(p["c"] == c for p in points) for c in "abcd"] == [16] * 4
    assert [sum(p["n"] == n for p in points) for n in range(8)] == [8] * 8


def test_sobol_draws_without_balance_warnings() -> None:
    opt = rand("sobol")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt.ask(3)
        opt.ask(5)


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_resume_continues_the_sequence(sampler: str) -> None:
    reference = rand(sampler).ask(10)
    old = rand(sampler)
    for p in old.ask(6):
        old.tell(p, 1.0)
    assert old.n_consumed == 6  # telling an asked point consumes nothing more
    fresh = rand(sampler)
    for p in reference[:6]:  # re-told, never asked
        fresh.tell(p, 1.0)
    assert fresh.n_consumed == 6
    assert fresh.ask(4) == reference[6:]


@pytest.mark.parametrize("value", [None, float("nan"), float("inf")])
def test_failed_trials_are_recorded_but_never_best(value: float | None) -> None:
    opt = rand()
    a, b = opt.ask(2)
    opt.tell(a, value)
    assert opt.trials[-1].state == "failed" and opt.trials[-1].value is None
    with pytest.raises(ValueError, match="no completed trial"):
        opt.best()
    opt.tell(b, 0.5)
    assert opt.best() == (b, 0.5)
    assert opt.pending == []


@pytest.mark.parametrize(("direction", "best"), [("minimize", -1.0), ("maximize", 4.0)])
def test_best_follows_the_direction(direction: str, best: float) -> None:
    opt = rand(direction=direction)
    points = opt.ask(4)
    for p, v in zip(points, [2.0, -1.0, 4.0, 0.0], strict=True):
        opt.tell(p, v)
    opt.tell(opt.ask(1)[0], 100.0 if direction == "minimize" else -100.0, state="pruned")
    params, value = opt.best()
    assert value == best and params == points[[2.0, -1.0, 4.0, 0.0].index(best)]


def test_readme_example() -> None:
    space = SearchSpace.from_grammar({"optimizer.lr": "tag(log, interval(1e-5, 1.0))",
                                      "model.hidden_dim": "tag(log, int(interval(16, 512)))",
                                      "optimizer": "choice(sgd,adam)"})
    opt = make_optimizer("random", space, seed=0, direction="minimize")
    for params in opt.ask(4):
        opt.tell(params, params["optimizer.lr"] * params["model.hidden_dim"])
    params, value = opt.best()
    assert value == min(t.value for t in opt.trials)
    assert params == next(t.params for t in opt.trials if t.value == value)


def test_unknown_strategy_and_bad_options() -> None:
    with pytest.raises(ValueError, match=r"'annealing'; expected one of grid, random, bayes, evolution"):
        make_optimizer("annealing", SPACE)
    with pytest.raises(ValueError, match=r"sampler='foo': expected one of \('sobol', 'uniform'\)"):
        rand("foo")
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['grid_points'\]; expected \['seed', 'direction', "
                                         r"'sampler'\]"):
        rand(grid_points=3)


def test_a_rerun_registered_as_pending_is_not_proposed_again():
    from pipeline.search import SearchSpace, make_optimizer

    space = SearchSpace.from_grammar({"x": "interval(0, 1)"})
    first = make_optimizer("random", space, seed=5).ask(3)
    resumed = make_optimizer("random", space, seed=5)
    resumed.tell(first[0], 1.0)
    resumed.tell(first[1], 2.0)
    resumed.add_pending(first[2])  # was running when the sweep died; re-run as is
    assert resumed.ask(1)[0] not in first
