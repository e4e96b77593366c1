from __future__ import annotations

import numpy as np
import pytest

from pipeline.search.warping import WARPINGS, fit_lambda, rank_gauss, warp


@pytest.mark.parametrize("method", WARPINGS)
def test_monotone_and_standardized(method):
    y = np.random.default_rng(0).lognormal(0.0, 2.0, size=40)
    z = warp(y, method)
    assert np.all(np.diff(z[np.argsort(y)]) >= -1e-12)
    assert np.isclose(z.mean(), 0.0, atol=1e-9) and np.isclose(z.std(), 1.0)


@pytest.mark.parametrize("method", WARPINGS)
def test_constant_and_empty_inputs(method):
    assert np.array_equal(warp(np.full(5, 3.0), method), np.zeros(5))
    assert warp(np.zeros(0), method).shape == (0,)


def test_power_tames_a_heavy_tail():
    y = np.concatenate([np.linspace(0.0, 1.0, 30), [1e8]])
    z = warp(y, "power")
    # Standardization alone squeezes the 30 ordinary values into a sliver; the power warp keeps them apart.
    spread_std = np.ptp(warp(y, "standardize")[:30])
    assert np.ptp(z[:30]) > 10 * spread_std
    assert np.all(np.isfinite(z))


def test_lambda_is_identity_for_gaussian_data():
    z = np.random.default_rng(1).normal(size=2000)
    assert abs(fit_lambda(z) - 1.0) < 0.15


def test_rank_gauss_handles_ties():
    z = rank_gauss(np.array([1.0, 1.0, 2.0]))
    assert z[0] == z[1] < z[2]


def test_unknown_method():
    with pytest.raises(ValueError, match="'logit'"):
        warp(np.arange(3.0), "logit")
