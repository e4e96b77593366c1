from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pipeline.search import make_optimizer
from pipeline.search.bayes import BayesOptimizer
from pipeline.search.space import CategoricalParam, FloatParam, IntParam, SearchSpace

MIXED = SearchSpace((FloatParam("lr", 1e-5, 1e-1, log=True), IntParam("layers", 1, 6),
                     IntParam("width", 8, 512, log=True), CategoricalParam("model", ("mlp", "cnn", "rnn")),
                     FloatParam("drop", 0.0, 0.5, step=0.1)), fixed={"epochs": 3})
FAST = {"n_candidates": 256, "n_restarts": 3}


def _mixed_loss(p):
    return (math.log10(p["lr"]) + 3) ** 2 + 0.1 * (p["layers"] - 3) ** 2 + (p["model"] != "cnn") \
        + abs(math.log2(p["width"]) - 6) * 0.2 + p["drop"]


def _run(opt, f, n, batch=1):
    while len(opt.trials) < n:
        for p in opt.ask(batch):
            opt.tell(p, f(p))
    return opt


def _key(p):
    return tuple(sorted(p.items()))


def test_proposals_respect_bounds_types_log_scale_and_choices():
    opt = _run(make_optimizer("bayes", MIXED, seed=1, **FAST), _mixed_loss, 14)
    for p in [t.params for t in opt.trials] + opt.ask(3):
        assert 1e-5 <= p["lr"] <= 1e-1 and isinstance(p["lr"], float)
        assert isinstance(p["layers"], int) and 1 <= p["layers"] <= 6
        assert isinstance(p["width"], int) and 8 <= p["width"] <= 512
        assert p["model"] in ("mlp", "cnn", "rnn") and p["epochs"] == 3
        assert p["drop"] in (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)
    lrs = np.log10([t.params["lr"] for t in opt.trials[:8]])
    assert lrs.min() < -4 and lrs.max() > -2  # initial design spread evenly in log space


def test_model_phase_improves_on_mixed_space():
    opt = _run(make_optimizer("bayes", MIXED, seed=0, **FAST), _mixed_loss, 25)
    assert opt.best()[1] < 0.5 and opt.best()[0]["model"] == "cnn"


def test_batch_points_are_distinct_and_avoid_pending():
    opt = _run(BayesOptimizer(MIXED, seed=2, **FAST), _mixed_loss, 12)
    batch = opt.ask(4) + opt.ask(2)  # the second ask must account for the four still running
    keys = {_key(p) for p in batch} | {_key(t.params) for t in opt.trials}
    assert len(keys) == 6 + 12


def test_batch_points_are_spread_on_a_continuous_space():
    space = SearchSpace((FloatParam("x", 0, 1), FloatParam("y", 0, 1)))
    opt = _run(BayesOptimizer(space, seed=0, **FAST), lambda p: (p["x"] - 0.3) ** 2 + (p["y"] - 0.6) ** 2, 10)
    pts = np.array([[p["x"], p["y"]] for p in opt.ask(4)])
    gaps = np.linalg.norm(pts[:, None] - pts[None], axis=-1)[np.triu_indices(4, 1)]
    assert gaps.min() > 1e-3


def test_same_seed_same_proposals():
    runs = [_run(BayesOptimizer(MIXED, seed=7, **FAST), _mixed_loss, 12) for _ in range(2)]
    assert [t.params for t in runs[0].trials] == [t.params for t in runs[1].trials]
    assert runs[0].ask(2) == runs[1].ask(2)
    other = _run(BayesOptimizer(MIXED, seed=8, **FAST), _mixed_loss, 12)
    assert [t.params for t in other.trials] != [t.params for t in runs[0].trials]


def test_finite_space_is_exhausted_without_duplicates():
    space = SearchSpace((CategoricalParam("a", ("x", "y", "z")), IntParam("b", 0, 1)))
    opt = BayesOptimizer(space, seed=0, n_initial=2)
    seen = []
    for _ in range(5):
        for p in opt.ask(2):
            seen.append(_key(p))
            opt.tell(p, float(p["b"]) + (p["a"] == "y"))
    assert len(seen) == len(set(seen)) == 6
    assert opt.ask(3) == []


def test_purely_categorical_space_beyond_initial_design():
    space = SearchSpace(tuple(CategoricalParam(f"c{i}", tuple(range(4))) for i in range(3)))
    opt = _run(BayesOptimizer(space, seed=0), lambda p: sum((p[f"c{i}"] - i) ** 2 for i in range(3)), 30)
    assert len({_key(t.params) for t in opt.trials}) == 30 and opt.best()[1] <= 1


def test_failed_pruned_and_constant_histories():
    space = SearchSpace((FloatParam("x", 0, 1),))
    opt = BayesOptimizer(space, seed=0, n_initial=3, **FAST)
    for _ in range(4):  # all failed: keeps proposing fresh quasi-random points
        opt.tell(opt.ask()[0], None)
    for i in range(6):  # a flat objective and a pruned trial
        p = opt.ask()[0]
        opt.tell(p, 1.0 if i != 2 else 5.0, state="pruned" if i == 2 else None)
    xs = [t.params["x"] for t in opt.trials] + [opt.ask()[0]["x"]]
    assert len(set(xs)) == len(xs) and all(0 <= x <= 1 for x in xs)
    X, y = opt.training_data()
    assert len(y) == 6 and y.max() == 5.0


def test_pruned_values_are_pessimistic():
    space = SearchSpace((FloatParam("x", 0, 1),))
    opt = BayesOptimizer(space, seed=0)
    for x, v in [(0.1, 3.0), (0.2, 1.0), (0.3, 2.0)]:
        opt.tell({"x": x}, v)
    opt.tell({"x": 0.9}, 0.5, state="pruned")
    assert opt.training_data()[1].tolist() == [3.0, 1.0, 2.0, 2.0]


def test_maximize_direction_and_one_dimension():
    space = SearchSpace((FloatParam("x", -2, 2),))
    opt = _run(BayesOptimizer(space, seed=0, direction="maximize", **FAST), lambda p: -(p["x"] - 0.7) ** 2, 15)
    assert abs(opt.best()[0]["x"] - 0.7) < 0.05


def test_ucb_option_and_threads_restored():
    before = torch.get_num_threads()
    opt = _run(BayesOptimizer(MIXED, seed=0, acquisition="ucb", ucb_beta=1.0, n_threads=1, **FAST),
               _mixed_loss, 10)
    assert torch.get_num_threads() == before and len(opt.trials) == 10


@pytest.mark.parametrize("opts, word", [
    ({"acquisition": "ei"}, "acquisition='ei'"), ({"n_initial": -1}, "n_initial=-1"),
    ({"n_initial": "ten"}, "n_initial='ten'"), ({"ucb_beta": 0}, "ucb_beta=0"),
    ({"warping": "log"}, "warping='log'"), ({"n_candidates": 2.5}, "n_candidates=2.5"),
    ({"n_cand": 10}, "n_cand"),
])
def test_bad_options_raise_value_error(opts, word):
    with pytest.raises(ValueError, match=word.replace("(", r"\(")):
        make_optimizer("bayes", MIXED, **opts)


def _branin(p):
    x1, x2 = p["x1"], p["x2"]
    return (x2 - 5.1 / (4 * math.pi**2) * x1**2 + 5 / math.pi * x1 - 6) ** 2 \
        + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x1) + 10


def test_beats_random_on_branin():
    space = SearchSpace((FloatParam("x1", -5, 10), FloatParam("x2", 0, 15)))
    regret = {}
    for strategy in ("bayes", "random"):
        regret[strategy] = np.median([
            _run(make_optimizer(strategy, space, seed=s, **(FAST if strategy == "bayes" else {})), _branin, 30)
            .best()[1] - 0.397887 for s in range(3)])
    assert regret["bayes"] < regret["random"] and regret["bayes"] < 0.05


def test_batch_straddling_the_initial_design():
    space = SearchSpace((FloatParam("x", 0, 1), IntParam("k", 1, 3)))
    opt = BayesOptimizer(space, seed=3, n_initial=4, **FAST)
    for p in opt.ask(2):
        opt.tell(p, p["x"] + p["k"])
    batch = opt.ask(5)  # two design points, three model points
    assert len(batch) == 5 and len({_key(p) for p in batch + [t.params for t in opt.trials]}) == 7


def test_fit_points_subset_used_past_the_limit_and_model_conditioned_on_all():
    opt = _run(BayesOptimizer(MIXED, seed=0, fit_points=12, **FAST), _mixed_loss, 20)
    X, y = opt.training_data()
    gp = opt.fit(X, y)
    assert len(gp.X) == len(X) == 20  # hyperparameters from 12 points, posterior from all 20
    with pytest.raises(ValueError, match="fit_points=1"):
        BayesOptimizer(MIXED, fit_points=1)


@pytest.mark.slow  # fits real GPs on 40-44 points: ~15 s
def test_past_fit_points_the_fit_is_kept_until_the_history_grows_by_refit_growth():
    from pipeline.search.bayes import REFIT_GROWTH

    opt = BayesOptimizer(MIXED, seed=0, fit_points=12, **FAST)
    rng = np.random.default_rng(0)
    for p in MIXED.decode(rng.random((44, MIXED.dim))):
        opt.tell(p, _mixed_loss(p))
    X, y = opt.training_data()
    first = opt.fit(X[:40], y[:40])
    kept = opt.fit(X[:41], y[:41])  # 41 < 40 x 1.05: the same hyperparameters, conditioned on all 41
    assert np.array_equal(kept.theta, first.theta) and len(kept.X) == 41
    refit = opt.fit(X[:42], y[:42])  # 42 >= 40 x (1 + REFIT_GROWTH): fitted again
    assert 42 >= 40 * (1 + REFIT_GROWTH) and not np.array_equal(refit.theta, first.theta) and len(refit.X) == 42
    below = BayesOptimizer(MIXED, seed=0, fit_points=50, **FAST)  # within fit_points: every fit is a fit
    a, b = below.fit(X[:40], y[:40]), below.fit(X[:41], y[:41])
    assert not np.array_equal(a.theta, b.theta)
