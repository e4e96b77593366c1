from __future__ import annotations

import math

import numpy as np
import torch

from pipeline.search.prior import LENGTHSCALE_VAR, HyperPrior


def test_lengthscale_location_grows_with_dimension_and_stays_inside_the_box():
    for d in (1, 2, 6, 16, 50):
        prior = HyperPrior(d)
        assert np.isclose(prior.loc()[0], math.log(math.sqrt(d)) - 0.5)
        lo, hi = prior.bounds()[0]
        assert lo < prior.loc()[0] < hi  # the mode is reachable: fits are not pinned to the cap
    assert HyperPrior(4).var()[0] == LENGTHSCALE_VAR


def test_noise_prior_lets_a_deterministic_objective_be_interpolated():
    prior = HyperPrior(2)
    theta = torch.tensor(prior.loc())
    near_exact = theta.clone()
    near_exact[-1] = math.log(1e-5)
    noisy = theta.clone()
    noisy[-1] = math.log(0.75)
    assert float(prior.log_prob(near_exact)) > -2.0 and float(prior.log_prob(noisy)) > -3.0


def test_log_prob_is_maximal_at_the_location_and_differentiable():
    prior = HyperPrior(3)
    theta = torch.tensor(prior.loc(), requires_grad=True)
    lp = prior.log_prob(theta)
    (g,) = torch.autograd.grad(lp, theta)
    assert float(lp.detach()) == 0.0 and np.allclose(g.numpy(), 0.0)
    assert float(prior.log_prob(theta.detach() + 0.5)) < 0.0


def test_samples_and_clip_respect_bounds():
    prior = HyperPrior(5)
    draws = prior.sample(np.random.default_rng(0), 200)
    lo, hi = np.array(prior.bounds()).T
    assert draws.shape == (200, 7)
    assert (draws >= lo).all() and (draws <= hi).all()
    assert np.array_equal(prior.clip(np.full(7, 1e6)), hi)
