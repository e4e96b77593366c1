"""Partial dependence and interactions that put the weight where it truly is, on synthetic objectives with a known
answer: the true partial dependence over the same background is known in closed form."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipeline.explain.effects import (
    BAND_Z,
    grid_values,
    h_statistic,
    interaction_strength,
    pair_dependence,
    partial_dependence,
    top_pairs,
)
from pipeline.explain.surrogate import Surrogate, background, encode_configs, fit_surrogate
from pipeline.search.space import SearchSpace

SPACE = SearchSpace.from_grammar({"x": "interval(0,1)", "lr": "tag(log, interval(1e-4, 1e-1))",
                                  "opt": "choice(sgd,adam,rmsprop)", "noise": "interval(0,1)"})
CHOICE_COST = {"sgd": 0.6, "adam": 0.0, "rmsprop": 0.3}


def additive(p: dict) -> float:
    """Strong and monotone in x (range 2), a valley in log10(lr) at -2.5 (range 1.125), adam best, noise inert."""
    return 2.0 * p["x"] + 0.5 * (math.log10(p["lr"]) + 2.5) ** 2 + CHOICE_COST[p["opt"]]


def fit(space: SearchSpace, f, n: int = 40, seed: int = 0, direction: str = "minimize") -> Surrogate:
    points = space.decode(np.random.default_rng(seed).random((n, space.dim)))
    return fit_surrogate(space, points, np.array([f(p) for p in points]), "loss", direction)


def true_pd(space: SearchSpace, f, name: str, values, bg) -> np.ndarray:
    """The objective's own partial dependence over ``bg``, where ``name`` is active."""
    return np.array([np.mean([f(c) for b in bg for c in [{**b, name: v}] if name in space.active(c)])
                     for v in values])


@pytest.fixture(scope="module")
def sur() -> Surrogate:
    return fit(SPACE, additive)


@pytest.fixture(scope="module")
def bg() -> list[dict]:
    return background(SPACE, 128, np.random.default_rng(0))


def test_a_strong_monotone_effect_is_monotone_and_spans_the_true_range(sur, bg):
    dep = partial_dependence(sur, "x", bg)
    assert len(dep.values) == 20 and dep.values[0] == 0.0 and dep.values[-1] == 1.0
    assert (np.diff(dep.mean) > 0).all()
    assert dep.range == pytest.approx(2.0, rel=0.15)
    assert not dep.log and not dep.categorical and dep.n_background == 128


def test_an_inert_parameter_is_flat_and_its_band_covers_a_constant(sur, bg):
    flat, strong = partial_dependence(sur, "noise", bg), partial_dependence(sur, "x", bg)
    assert flat.range < 0.1 * strong.range
    assert flat.lower.max() <= flat.upper.min()  # one horizontal line lies inside the whole band


@pytest.mark.parametrize("name", ["x", "lr", "opt", "noise"])
def test_the_true_partial_dependence_lies_in_the_band(sur, bg, name):
    dep = partial_dependence(sur, name, bg)
    truth = true_pd(SPACE, additive, name, dep.values, bg)
    inside = (dep.lower <= truth) & (truth <= dep.upper)
    assert inside.mean() >= 0.8
    assert np.abs(dep.mean - truth).max() < 0.15  # against effects of 0.6 to 2
    np.testing.assert_allclose(dep.lower, dep.mean - BAND_Z * dep.sd)
    np.testing.assert_allclose(dep.upper, dep.mean + BAND_Z * dep.sd)


def test_a_log_scale_parameter_has_a_geometric_grid_and_a_log_axis(sur, bg):
    dep = partial_dependence(sur, "lr", bg)
    assert dep.log and dep.values[0] == pytest.approx(1e-4) and dep.values[-1] == pytest.approx(1e-1)
    ratios = np.diff(np.log(dep.values))
    np.testing.assert_allclose(ratios, ratios[0], rtol=1e-6)
    assert abs(math.log10(dep.best(sur.sign)) + 2.5) <= 0.3  # the valley where it is


def test_a_categorical_ranks_the_truly_better_choice_first(sur, bg):
    dep = partial_dependence(sur, "opt", bg)
    assert dep.categorical and dep.values == ("sgd", "adam", "rmsprop")
    assert list(np.argsort(dep.mean)) == [1, 2, 0]
    assert dep.best(sur.sign) == "adam"
    assert dep.mean[0] - dep.mean[1] == pytest.approx(0.6, abs=0.1)


def test_the_band_is_the_exact_posterior_sd_of_the_average(sur, bg):
    dep = partial_dependence(sur, "x", bg, n_grid=5)
    X = encode_configs(SPACE, [{**b, "x": dep.values[2]} for b in bg])
    assert dep.sd[2] == pytest.approx(math.sqrt(sur.covariance(X).sum()) / len(bg), rel=1e-6)
    assert dep.mean[2] == pytest.approx(sur.predict(X)[0].mean())


@pytest.mark.parametrize("grammar, n_grid, expected", [
    ("choice(a,b,c)", 2, ["a", "b", "c"]),                    # every choice, whatever n_grid
    ("range(1,6)", 20, [1, 2, 3, 4, 5]),                       # every level of a small integer
    ("interval(0,1)", 3, [0.0, 0.5, 1.0]),
    ("tag(log, interval(1e-3, 1e-1))", 3, [1e-3, 1e-2, 1e-1]),  # evenly spaced in log
    ("int(interval(1, 100))", 3, [1, 50, 100]),
    # evenly spaced in the encoding of a log-scale integer, which maps [log(1/2), log(10000.5)] onto [0, 1]
    ("tag(log, int(interval(1, 10000)))", 5, [1, 6, 71, 841, 10000]),
])
def test_grid_values(grammar, n_grid, expected):
    param = SearchSpace.from_grammar({"p": grammar})["p"]
    assert grid_values(param, n_grid) == pytest.approx(expected, rel=0.02) if not isinstance(expected[0], str) \
        else grid_values(param, n_grid) == expected


def test_grid_values_needs_two_points():
    with pytest.raises(ValueError, match="n_grid=1"):
        grid_values(SPACE["x"], 1)


# -- interactions ---------------------------------------------------------------------------------------------------
def product(p: dict) -> float:
    """A pure interaction between a and b, and c additive."""
    return 4.0 * (p["a"] - 0.5) * (p["b"] - 0.5) + p["c"]


def test_h2_is_large_for_a_product_and_small_for_an_additive_pair():
    space = SearchSpace.from_grammar({"a": "interval(0,1)", "b": "interval(0,1)", "c": "interval(0,1)"})
    sur, bg = fit(space, product, n=40, seed=1), background(space, 64, np.random.default_rng(0))
    assert interaction_strength(sur, "a", "b", bg, 8) > 0.8
    assert interaction_strength(sur, "a", "c", bg, 8) < 0.05
    pair = pair_dependence(sur, "a", "b", bg, 6)
    assert pair.mean.shape == pair.sd.shape == (6, 6) and pair.n_background == 64
    grid = np.linspace(0, 1, 6)
    assert pair.interaction == pytest.approx(4 * np.var(grid), rel=0.2)  # rms of 4(a-.5)(b-.5) on the grid


def test_h_statistic_by_hand():
    u = np.linspace(0, 1, 7)
    assert h_statistic(u[:, None] + 2 * u[None, :]) == pytest.approx(0.0, abs=1e-12)
    assert h_statistic(np.outer(u - 0.5, u - 0.5)) == pytest.approx(1.0)
    assert h_statistic(np.full((4, 5), 3.0)) == 0.0
    # x*y on [0,1]^2: interaction (x-.5)(y-.5) next to main effects (x + y)/2 - 1/4 (centred), by the grid's moments
    pd = np.outer(u, u)
    c = u - u.mean()
    expected = (c @ c) ** 2 / ((c @ c) ** 2 + 2 * len(u) * u.mean() ** 2 * (c @ c))
    assert h_statistic(pd) == pytest.approx(expected)
    rng = np.random.default_rng(0)
    assert all(0.0 <= h_statistic(rng.standard_normal((5, 6))) <= 1.0 for _ in range(20))
    with pytest.raises(ValueError, match="2-D"):
        h_statistic(u)


def test_top_pairs_come_from_the_most_important_parameters():
    imp = {"d": 0.05, "a": 0.5, "c": 0.15, "b": 0.3}
    assert top_pairs(imp, 3) == [("a", "b"), ("a", "c"), ("b", "c")]
    assert top_pairs(imp, 1) == [("a", "b")]
    assert len(top_pairs(imp, 6)) == 6 and len(top_pairs(imp, 10)) == 6
    assert top_pairs({"a": 1.0}, 3) == []


# -- conditional parameters -----------------------------------------------------------------------------------------
CONDITIONAL = SearchSpace.from_grammar({"model": "choice(mlp,cnn)", "width": "interval(0,1)", "x": "interval(0,1)"},
                                       {"width": "model=mlp"})


def branchy(p: dict) -> float:
    """width acts (range 2) where it is active, with mlp; cnn costs 0.5."""
    return p["x"] + (2.0 * p["width"] if p["model"] == "mlp" else 0.5)


@pytest.fixture(scope="module")
def conditional() -> tuple[Surrogate, list[dict]]:
    return fit(CONDITIONAL, branchy, n=40, seed=2), background(CONDITIONAL, 128, np.random.default_rng(3))


def test_a_conditional_parameter_is_averaged_where_it_is_active(conditional):
    sur, bg = conditional
    dep = partial_dependence(sur, "width", bg)
    assert dep.n_background == sum(b["model"] == "mlp" for b in bg) < len(bg)
    # averaged over every configuration its range would be about 1 (half of them ignore it): where active it is 2
    assert dep.range == pytest.approx(2.0, rel=0.15) and (np.diff(dep.mean) > 0).all()
    truth = true_pd(CONDITIONAL, branchy, "width", dep.values, bg)
    assert np.abs(dep.mean - truth).max() < 0.2 and dep.note == ""
    parent = partial_dependence(sur, "model", bg)
    assert parent.n_background == len(bg)
    np.testing.assert_allclose(parent.mean, true_pd(CONDITIONAL, branchy, "model", parent.values, bg), atol=0.15)


def test_a_branch_the_background_never_takes_is_activated_and_says_so(conditional):
    sur, bg = conditional
    cnn_only = [{**b, "model": "cnn"} for b in bg[:16]]
    dep = partial_dependence(sur, "width", cnn_only)
    assert dep.n_background == 16 and "active at none" in dep.note and dep.range > 1.5


def test_a_pair_of_a_parent_and_its_child(conditional):
    sur, bg = conditional
    pair = pair_dependence(sur, "model", "width", bg, 5)
    cnn, mlp = pair.values_a.index("cnn"), pair.values_a.index("mlp")
    assert np.ptp(pair.mean[cnn]) < 1e-9  # width is inactive with cnn: its value changes nothing there
    assert (np.diff(pair.mean[mlp]) > 0).all()
    assert pair.n_background == len(bg)  # with model set to mlp, width is active at every configuration


def test_unknown_parameters_are_named(sur, bg):
    with pytest.raises(ValueError, match="'depth' is not searched"):
        partial_dependence(sur, "depth", bg)
    with pytest.raises(ValueError, match="a='x' twice"):
        pair_dependence(sur, "x", "x", bg)
