from __future__ import annotations

import math

import numpy as np

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
    near_exact, noisy = prior.loc(), prior.loc()
    near_exact[-1], noisy[-1] = math.log(1e-5), math.log(0.75)
    assert prior.neg_log_prob(near_exact)[0] < 2.0 and prior.neg_log_prob(noisy)[0] < 3.0


def test_neg_log_prob_is_zero_at_the_location_with_the_gradient_of_its_value():
    prior = HyperPrior(3)
    value, grad = prior.neg_log_prob(prior.loc())
    assert value == 0.0 and np.allclose(grad, 0.0)
    theta = prior.loc() + np.array([0.5, -0.2, 0.1, 0.3, -0.4])
    value, grad = prior.neg_log_prob(theta)
    eps = 1e-6
    numeric = [(prior.neg_log_prob(theta + eps * e)[0] - prior.neg_log_prob(theta - eps * e)[0]) / (2 * eps)
               for e in np.eye(5)]
    assert value > 0.0 and np.allclose(grad, numeric, atol=1e-6)


def test_clip_respects_bounds():
    prior = HyperPrior(5)
    lo, hi = np.array(prior.bounds()).T
    assert np.array_equal(prior.clip(np.full(7, 1e6)), hi) and np.array_equal(prior.clip(np.full(7, -1e6)), lo)
    inside = (lo + hi) / 2
    assert np.array_equal(prior.clip(inside), inside)
