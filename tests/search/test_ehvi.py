"""The log expected hypervolume improvement and the probability of feasibility, against Monte Carlo."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pipeline.search.acquisition import log_ei
from pipeline.search.ehvi import log_ehvi, log_pof
from pipeline.search.pareto import hypervolume, nondominated_boxes


@pytest.mark.parametrize("m", [2, 3])
def test_ehvi_equals_the_mean_hypervolume_improvement(m: int) -> None:
    rng = np.random.default_rng(m)
    Y = rng.random((8, m))
    ref = np.full(m, 1.2)
    lower, upper = nondominated_boxes(Y, ref)
    mean = rng.random((4, m)) * 0.8
    sd = np.full((4, m), 0.15)
    got = log_ehvi(torch.tensor(mean), torch.tensor(sd**2), torch.tensor(lower), torch.tensor(upper)).exp().numpy()
    base = hypervolume(Y, ref)
    for i in range(4):
        samples = mean[i] + sd[i] * rng.standard_normal((3000, m))
        mc = np.mean([hypervolume(np.vstack([Y, s]), ref) - base for s in samples])
        assert got[i] == pytest.approx(mc, rel=0.08, abs=2e-4)


def test_with_one_objective_ehvi_is_expected_improvement() -> None:
    mean, var = torch.tensor([[0.3], [1.5]], dtype=torch.float64), torch.tensor([[0.04], [0.25]], dtype=torch.float64)
    lower, upper = nondominated_boxes(np.array([[0.5], [0.9]]), np.array([2.0]))
    got = log_ehvi(mean, var, torch.tensor(lower), torch.tensor(upper))
    assert torch.allclose(got, log_ei(mean[:, 0], var[:, 0], 0.5))


def test_far_from_the_front_log_ehvi_stays_finite_and_ordered() -> None:
    lower, upper = nondominated_boxes(np.array([[0.0, 1.0], [1.0, 0.0]]), np.array([2.0, 2.0]))
    mean = torch.tensor([[30.0, 30.0], [60.0, 60.0]], dtype=torch.float64, requires_grad=True)
    v = log_ehvi(mean, torch.ones(2, 2, dtype=torch.float64), torch.tensor(lower), torch.tensor(upper))
    v.sum().backward()
    assert torch.isfinite(v).all() and v[0] > v[1]
    assert torch.isfinite(mean.grad).all() and (mean.grad < 0).all()


def test_probability_of_feasibility() -> None:
    mean = torch.tensor([[0.0, -3.0], [2.0, -3.0]], dtype=torch.float64)
    p = log_pof(mean, torch.ones(2, 2, dtype=torch.float64), torch.zeros(2, dtype=torch.float64)).exp()
    assert p[0].item() == pytest.approx(0.5 * 0.99865, rel=1e-4)
    assert p[1] < p[0]
