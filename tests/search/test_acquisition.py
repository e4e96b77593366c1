from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import norm

from pipeline.search.acquisition import fantasize, incumbent, log_ei, log_h, make_acquisition
from pipeline.search.gp import GP


def _ei(mean, sigma, best):
    z = (best - mean) / sigma
    return sigma * (z * norm.cdf(z) + norm.pdf(z))


def test_log_ei_matches_direct_ei_where_stable():
    mean = np.linspace(-2.0, 3.0, 25)
    sigma = np.linspace(0.1, 2.0, 25)
    got = log_ei(torch.tensor(mean), torch.tensor(sigma**2), 0.5).numpy()
    assert np.allclose(got, np.log(_ei(mean, sigma, 0.5)), rtol=1e-9, atol=1e-9)


def test_log_ei_is_finite_and_monotone_in_the_far_tail():
    z = torch.tensor([-1.0, -5.0, -40.0, -1e3, -1e8, -1e10], dtype=torch.float64)
    v = log_h(z).numpy()
    assert np.all(np.isfinite(v)) and np.all(np.diff(v) < 0)
    # asymptotics: log h(z) ~ -z^2/2 - log(2 pi)/2 - 2 log|z|
    assert np.isclose(v[3], -0.5 * 1e6 - 0.5 * math.log(2 * math.pi) - 2 * math.log(1e3), rtol=1e-6)


@pytest.mark.parametrize("z0", [2.0, 0.3, -0.5, -1.0, -3.0, -30.0])
def test_log_h_gradient_matches_finite_differences(z0):
    z = torch.tensor([z0], dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(log_h(z).sum(), z)
    eps = 1e-6
    fd = (log_h(torch.tensor([z0 + eps], dtype=torch.float64))
          - log_h(torch.tensor([z0 - eps], dtype=torch.float64))) / (2 * eps)
    assert np.isclose(float(g), float(fd), rtol=1e-5, atol=1e-7)


def _gp():
    rng = np.random.default_rng(0)
    X = rng.random((10, 2))
    return GP(X, np.sin(5 * X[:, 0]) + X[:, 1], np.zeros(2, bool), np.log([0.3, 0.5, 1.0, 1e-4]))


def test_acquisition_gradient_in_x_matches_finite_differences():
    gp = _gp()
    acq = make_acquisition(gp, "logei", best=incumbent(gp, gp.X.numpy()))
    x = torch.tensor([[0.3, 0.6]], dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(acq(x).sum(), x)
    for j in range(2):
        e = torch.zeros(1, 2, dtype=torch.float64)
        e[0, j] = 1e-6
        fd = (acq(x.detach() + e) - acq(x.detach() - e)) / 2e-6
        assert np.isclose(float(g[0, j]), float(fd), rtol=1e-4, atol=1e-6)


def test_ucb_is_mean_minus_scaled_std():
    gp = _gp()
    x = torch.tensor([[0.2, 0.2]], dtype=torch.float64)
    m, v = gp.posterior(x)
    assert np.isclose(float(make_acquisition(gp, "ucb", beta=9.0)(x)), float(-(m - 3 * v.sqrt())))


def test_unknown_acquisition_and_missing_best():
    with pytest.raises(ValueError, match="'pi'"):
        make_acquisition(_gp(), "pi", best=0.0)
    with pytest.raises(ValueError, match="best"):
        make_acquisition(_gp(), "logei")


def test_fantasy_lowers_acquisition_at_the_pending_point():
    gp = _gp()
    x = np.array([[0.9, 0.1]])
    before = make_acquisition(gp, "logei", best=incumbent(gp, gp.X.numpy()))(torch.tensor(x))
    gp2 = fantasize(gp, x)
    after = make_acquisition(gp2, "logei", best=incumbent(gp2, gp2.X.numpy()))(torch.tensor(x))
    assert float(after) < float(before) - 2
