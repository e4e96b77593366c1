from __future__ import annotations

import numpy as np
import torch

from pipeline.search.gp import GP, fit_gp, matern52


def _matern_np(r):
    s = np.sqrt(5.0) * r
    return (1 + s + s**2 / 3) * np.exp(-s)


def test_posterior_matches_closed_form():
    rng = np.random.default_rng(0)
    X, y, x = rng.random((6, 2)), rng.normal(size=6), rng.random((4, 2))
    ls, s, noise = np.array([0.3, 0.7]), 1.5, 0.01
    theta = np.concatenate([np.log(ls), [np.log(s), np.log(noise)]])
    gp = GP(X, y, np.zeros(2, bool), theta)
    k = lambda A, B: s * _matern_np(np.sqrt((((A[:, None] - B[None]) / ls) ** 2).sum(-1)))  # noqa: E731
    K = k(X, X) + noise * np.eye(6)
    c = np.linalg.solve(K, np.ones(6)) @ y / np.linalg.solve(K, np.ones(6)).sum()  # GLS constant mean
    mean = c + k(x, X) @ np.linalg.solve(K, y - c)
    var = s - np.einsum("ij,ji->i", k(x, X), np.linalg.solve(K, k(X, x)))
    m, v = gp.posterior_np(x)
    assert np.allclose(m, mean, atol=1e-10) and np.allclose(v, var, atol=1e-10)
    assert np.array_equal(gp.mean_np(x), m)  # the mean alone: the same numbers, without the variance


def test_constant_mean_discounts_clustered_points():
    """The GLS mean weighs a tight cluster of observations about as one point, unlike the sample mean:
    a search that piles evaluations into one good basin does not make unexplored regions look good."""
    rng = np.random.default_rng(5)
    spread = rng.random((8, 2))
    cluster = 0.5 + 1e-3 * rng.random((12, 2))
    X = np.vstack([spread, cluster])
    y = np.concatenate([np.zeros(8), np.full(12, -3.0)])
    gp = GP(X, y, np.zeros(2, bool), np.log([0.2, 0.2, 1.0, 1e-4]))
    assert y.mean() < -1.5 and -0.6 < gp.mean < 0.0
    far, _ = gp.posterior_np(np.array([[0.0, 1.0]]))
    assert far[0] > -0.6
    fantasy = gp.condition_on(np.array([[0.9, 0.9]]), np.array([5.0]))
    assert fantasy.mean == gp.mean  # fantasies (running trials) do not move the prior mean


def test_categorical_columns_use_overlap_distance():
    X = np.array([[0.25, 0.1], [0.75, 0.1]])
    theta = np.log([0.5, 1.0, 1.0, 1e-6])
    gp = GP(X, np.zeros(2), np.array([True, False]), theta)
    k = gp.kernel(torch.tensor(X), torch.tensor(X)).numpy()
    assert np.isclose(k[0, 1], _matern_np(1.0 / 0.5))  # distance 1 regardless of the 0.5 gap


def test_matern_gradient_finite_at_zero():
    d2 = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    matern52(d2).sum().backward()
    assert torch.isfinite(d2.grad).all() and np.allclose(d2.grad.numpy(), -5 / 6)


def test_fit_recovers_relevant_dimension():
    rng = np.random.default_rng(0)
    X = rng.random((40, 3))
    y = np.sin(6 * X[:, 0]) + 0.01 * X[:, 1]
    y = (y - y.mean()) / y.std()
    gp = fit_gp(X, y, np.zeros(3, bool))
    ls = gp.lengthscales
    assert ls[0] < ls[1] / 5 and ls[0] < ls[2] / 5
    assert float(gp.noise_var) < 1e-2


def test_fit_learns_noise():
    rng = np.random.default_rng(1)
    X = rng.random((40, 2))
    y = X[:, 0] + 0.5 * rng.normal(size=40)
    gp = fit_gp(X, (y - y.mean()) / y.std(), np.zeros(2, bool))
    assert float(gp.noise_var) > 0.3


def test_fit_survives_degenerate_data():
    X = np.repeat(np.random.default_rng(2).random((1, 2)), 5, axis=0)  # one point, five times
    gp = fit_gp(X, np.zeros(5), np.zeros(2, bool))
    m, v = gp.posterior_np(np.array([[0.5, 0.5]]))
    assert np.all(np.isfinite(m)) and np.all(v > 0)
    gp = fit_gp(np.random.default_rng(3).random((4, 2)), np.zeros(4), np.zeros(2, bool))
    assert np.all(np.isfinite(gp.posterior_np(np.full((1, 2), 0.3))[0]))


def test_fantasies_collapse_variance():
    rng = np.random.default_rng(4)
    X = rng.random((8, 2))
    gp = GP(X, rng.normal(size=8), np.zeros(2, bool), np.log([0.3, 0.3, 1.0, 0.1]))
    x = np.array([[0.5, 0.5]])
    m0, v0 = gp.posterior_np(x)
    m1, v1 = gp.condition_on(x, m0).posterior_np(x)
    assert np.isclose(m1[0], m0[0], atol=1e-6) and v1[0] < 1e-4 * v0[0] + 1e-5


def test_neg_log_posterior_gradient_matches_finite_differences():
    from pipeline.search.gp import neg_log_posterior, per_dim_sq_dist
    from pipeline.search.prior import HyperPrior

    rng = np.random.default_rng(5)
    X = torch.tensor(rng.random((12, 3)))
    y = torch.tensor(rng.normal(size=12)) + 1.5
    D2 = per_dim_sq_dist(X, X, torch.tensor([False, True, False]))
    prior = HyperPrior(3)
    theta = np.array([-0.5, 0.2, 0.8, 0.1, -3.0])
    f0, g = neg_log_posterior(theta, D2, y, prior)
    assert np.isclose(neg_log_posterior(theta, D2, y - 7.0, prior)[0], f0)  # the constant mean is profiled out
    for i in range(5):
        e = np.zeros(5)
        e[i] = 1e-6
        fd = (neg_log_posterior(theta + e, D2, y, prior)[0] - neg_log_posterior(theta - e, D2, y, prior)[0]) / 2e-6
        assert np.isclose(g[i], fd, rtol=1e-5, atol=1e-6)


def test_scaled_sq_dist_matches_per_dimension_form():
    from pipeline.search.gp import per_dim_sq_dist, scaled_sq_dist

    rng = np.random.default_rng(6)
    is_cat = torch.tensor([False, True, False, True])
    X1 = torch.tensor(rng.random((7, 4)))
    X1[:, 1] = torch.tensor(rng.integers(3, size=7) / 3 + 1 / 6)
    X2 = torch.cat([X1[:3], torch.tensor(rng.random((5, 4)))])  # some exact matches: distance 0
    w = torch.tensor([40.0, 2.0, 0.5, 7.0], dtype=torch.float64)
    exact = per_dim_sq_dist(X1, X2, is_cat) @ w
    fast = scaled_sq_dist(X1, X2, w, is_cat)
    assert fast.min() >= 0 and torch.allclose(fast, exact, atol=1e-12)


def test_incremental_conditioning_equals_a_fresh_factorization():
    rng = np.random.default_rng(7)
    X, Xn = rng.random((30, 3)), rng.random((4, 3))
    theta = np.log([0.3, 0.5, 0.8, 1.2, 1e-3])
    is_cat = np.array([False, False, True])
    gp = GP(X, rng.normal(size=30), is_cat, theta)
    yn = rng.normal(size=4)
    inc = gp.condition_on(Xn, yn)
    fresh = GP(np.vstack([X, Xn]), np.concatenate([gp.y.numpy(), yn]), is_cat, theta, n_fantasies=4,
               mean=gp.mean)  # fantasies keep the prior mean of the real observations
    assert torch.allclose(inc.L, fresh.L, atol=1e-10) and torch.allclose(inc.alpha, fresh.alpha, atol=1e-8)
    x = rng.random((50, 3))
    for a, b in zip(inc.posterior_np(x), fresh.posterior_np(x)):
        assert np.allclose(a, b, atol=1e-9)


def test_fit_subset_keeps_the_best_and_spreads_the_rest():
    from pipeline.search.gp import FIT_BEST_SHARE, fit_subset

    y = np.random.default_rng(8).normal(size=1000)
    assert np.array_equal(fit_subset(y[:50], 256, np.random.default_rng(0)), np.arange(50))
    idx = fit_subset(y, 256, np.random.default_rng(0))
    assert len(idx) == 256 == len(np.unique(idx))
    n_best = int(FIT_BEST_SHARE * 256)
    assert set(np.argsort(y)[:n_best]) <= set(idx)
    assert idx.max() > 800 and idx.min() < 200  # the draw covers the whole history


def test_subset_fit_predicts_like_the_exact_fit():
    """Hyperparameters fitted on a subset, GP conditioned on everything: predictions close to the exact GP."""
    from pipeline.search.gp import fit_subset

    rng = np.random.default_rng(9)
    X = rng.random((400, 3))
    f = lambda A: np.sin(5 * A[:, 0]) + (A[:, 1] - 0.5) ** 2 + 0.1 * A[:, 2]  # noqa: E731
    y = f(X)
    y = (y - y.mean()) / y.std()
    exact = fit_gp(X, y, np.zeros(3, bool))
    idx = fit_subset(y, 128, np.random.default_rng(0))
    approx = GP(X, y, np.zeros(3, bool), fit_gp(X[idx], y[idx], np.zeros(3, bool)).theta)
    x = rng.random((500, 3))
    (me, ve), (ma, va) = exact.posterior_np(x), approx.posterior_np(x)
    assert np.sqrt(np.mean((me - ma) ** 2)) < 0.01  # standardized units
    assert np.allclose(np.sqrt(va), np.sqrt(ve), atol=0.02)
