from __future__ import annotations

import math

import numpy as np
import torch

from pipeline.search.prior import LENGTHSCALE_VAR, HyperPrior


def test_lengthscale_location_grows_with_dimension():
    # Hvarfner et al. (2024): log-lengthscale location sqrt(2) + log(d) / 2.
    assert HyperPrior(1).loc()[0] == math.sqrt(2.0)
    assert np.isclose(HyperPrior(16).loc()[0], math.sqrt(2.0) + 0.5 * math.log(16))
    assert HyperPrior(4).var()[0] == LENGTHSCALE_VAR


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
