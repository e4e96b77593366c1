"""The surrogate: bayes's GP, predictions in the objective's own units, exact posterior covariance and averages."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipeline.explain.surrogate import (
    UNKNOWN_CHOICE,
    Surrogate,
    background,
    encode_configs,
    fit_surrogate,
)
from pipeline.search.bayes import limited_threads
from pipeline.search.gp import fit_gp
from pipeline.search.space import INACTIVE, SearchSpace
from pipeline.search.warping import standardize

SPACE = SearchSpace.from_grammar({"x": "interval(0,1)", "lr": "tag(log, interval(1e-4, 1e-1))",
                                  "opt": "choice(sgd,adam)"})
CONDITIONAL = SearchSpace.from_grammar({"model": "choice(mlp,cnn)", "width": "interval(0,1)", "kernel": "choice(3,5)"},
                                       {"width": "model=mlp", "kernel": "model=cnn"})


def objective(p: dict) -> float:
    """In the objective's own units, far from mean 0 and std 1: a standardisation left undone would show."""
    return 100.0 + 50.0 * p["x"] + 10.0 * (math.log10(p["lr"]) + 2.5) ** 2 + (8.0 if p["opt"] == "sgd" else 0.0)


@pytest.fixture(scope="module")
def fitted() -> tuple[Surrogate, list[dict], np.ndarray]:
    points = SPACE.decode(np.random.default_rng(0).random((40, SPACE.dim)))
    y = np.array([objective(p) for p in points])
    return fit_surrogate(SPACE, points, y, "cv val_loss", "minimize"), points, y


def test_the_fit_is_bayes_fit_on_standardised_values(fitted):
    sur, points, y = fitted
    with limited_threads(1):
        same = fit_gp(SPACE.encode(points), standardize(y), SPACE.is_categorical)
    np.testing.assert_allclose(sur.gp.theta, same.theta, rtol=1e-6, atol=1e-8)
    assert (sur.y_mean, sur.y_scale) == pytest.approx((y.mean(), y.std()))
    assert (sur.label, sur.direction, sur.sign, sur.n_trials) == ("cv val_loss", "minimize", 1.0, 40)


def test_predictions_are_in_the_objectives_units(fitted):
    sur, points, y = fitted
    mean, sd = sur.predict(SPACE.encode(points))
    assert np.abs(mean - y).max() < 0.02 * np.ptp(y)          # a noiseless objective is interpolated
    fresh = SPACE.decode(np.random.default_rng(1).random((50, SPACE.dim)))
    truth = np.array([objective(p) for p in fresh])
    mean, sd = sur.predict(SPACE.encode(fresh))
    assert np.sqrt(np.mean((mean - truth) ** 2)) < 0.1 * np.std(truth)
    assert (sd > 0).all() and np.median(sd) < 0.2 * np.std(truth)  # sd in the objective's units too
    assert np.mean(np.abs(mean - truth) <= 3 * sd) > 0.8


def test_covariance_is_the_posterior_covariance(fitted):
    sur, _, _ = fitted
    X = SPACE.encode(SPACE.decode(np.random.default_rng(2).random((12, SPACE.dim))))
    cov = sur.covariance(X)
    _, sd = sur.predict(X)
    np.testing.assert_allclose(cov, cov.T)
    np.testing.assert_allclose(np.sqrt(np.diag(cov)), sd, rtol=1e-6)
    assert np.linalg.eigvalsh(cov).min() > -1e-8 * np.abs(cov).max()


def test_an_average_has_the_exact_variance_of_a_linear_functional(fitted):
    sur, _, _ = fitted
    X = SPACE.encode(SPACE.decode(np.random.default_rng(3).random((30, SPACE.dim))))
    mean, sd = sur.average(X)
    assert mean == pytest.approx(sur.predict(X)[0].mean())
    assert sd == pytest.approx(math.sqrt(sur.covariance(X).sum()) / len(X), rel=1e-6)
    # weighted: w^T Sigma w
    w = np.random.default_rng(4).random(len(X))
    w /= w.sum()
    means, sds = sur.averages(np.stack([X, X]), np.stack([w, np.full(len(X), 1 / len(X))]))
    assert means[0] == pytest.approx(w @ sur.predict(X)[0])
    assert sds[0] == pytest.approx(math.sqrt(w @ sur.covariance(X) @ w), rel=1e-6)
    assert sds[1] == pytest.approx(sd, rel=1e-9)


def test_a_maximized_objective_and_a_flat_one():
    points = SPACE.decode(np.random.default_rng(5).random((12, SPACE.dim)))
    sur = fit_surrogate(SPACE, points, np.full(12, 0.7), "acc", "maximize")
    assert sur.sign == -1.0 and sur.y_scale == 1.0
    np.testing.assert_allclose(sur.predict(SPACE.encode(points))[0], 0.7, atol=1e-9)


@pytest.mark.parametrize("points, values, match", [
    ([{"x": 0.1, "lr": 1e-3, "opt": "sgd"}], [1.0], "at least 2"),
    ([{"x": 0.1, "lr": 1e-3, "opt": "sgd"}] * 2, [1.0], "one value per point"),
    ([{"x": 0.1, "lr": 1e-3, "opt": "sgd"}] * 2, [1.0, float("nan")], "finite"),
])
def test_bad_input_is_refused(points, values, match):
    with pytest.raises(ValueError, match=match):
        fit_surrogate(SPACE, points, np.array(values), "v", "minimize")
    with pytest.raises(ValueError, match="direction"):
        fit_surrogate(SPACE, [{"x": 0.1, "lr": 1e-3, "opt": "sgd"}] * 2, np.array([1.0, 2.0]), "v", "upward")


def test_encoding_respects_conditions_and_clips_foreign_values():
    full = {"model": "cnn", "width": 0.3, "kernel": 5}
    X = encode_configs(CONDITIONAL, [full, {"model": "mlp", "width": 0.3, "kernel": 5}])
    np.testing.assert_array_equal(X, CONDITIONAL.encode([{"model": "cnn", "kernel": 5},
                                                         {"model": "mlp", "width": 0.3}]))
    assert X[0, 1] == INACTIVE and X[1, 2] == INACTIVE  # the value an inactive parameter holds does not count
    X = encode_configs(SPACE, [{"x": 1.7, "lr": 5.0, "opt": "rmsprop"}, {"x": -3, "lr": 1e-9, "opt": "adam"}])
    np.testing.assert_allclose(X, [[1.0, 1.0, UNKNOWN_CHOICE], [0.0, 0.0, 0.75]])
    with pytest.raises(ValueError, match="'width'"):
        encode_configs(CONDITIONAL, [{"model": "mlp"}])
    with pytest.raises(ValueError, match="'x'"):
        encode_configs(SPACE, [{"x": "big", "lr": 1e-3, "opt": "sgd"}])


def test_background_draws_full_configurations_as_a_random_search():
    configs = background(CONDITIONAL, 256, np.random.default_rng(0))
    assert len(configs) == 256 and all(set(c) == {"model", "width", "kernel"} for c in configs)  # inactive too
    assert abs(sum(c["model"] == "mlp" for c in configs) - 128) <= 8
    assert configs == background(CONDITIONAL, 256, np.random.default_rng(0))
    log10 = np.log10([c["lr"] for c in background(SPACE, 256, np.random.default_rng(1))])
    assert log10.min() >= -4 and log10.max() <= -1
    assert np.histogram(log10, bins=3, range=(-4, -1))[0] == pytest.approx([256 / 3] * 3, abs=12)  # log-uniform
    with pytest.raises(ValueError, match="n=0"):
        background(SPACE, 0, np.random.default_rng(0))
