"""The served model's parts (``pipeline.results.serving``): raw inputs in every layout the data has, outputs in the
targets' units, and a one-line refusal naming the shapes it takes."""

from __future__ import annotations

import pytest
import torch

from pipeline.models import mlp
from pipeline.results.serving import as_served


def test_served_model_takes_raw_inputs_and_answers_in_the_targets_units():
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 1)
    x_mean, x_std = torch.tensor([[1.0, 2.0, 3.0]]), torch.tensor([[2.0, 2.0, 2.0]])
    y_mean, y_std = torch.tensor([100.0]), torch.tensor([10.0])
    served = as_served(net, x_mean, x_std, y_mean, y_std)
    x = torch.rand(4, 3)
    assert torch.allclose(served(x), net((x - x_mean) / x_std) * 10.0 + 100.0)
    assert not served.training and torch.equal(as_served(net)(x), net(x))


@pytest.mark.parametrize(("sample", "batch"), [((1, 8, 8), (5, 1, 8, 8)), ((1, 8, 8), (5, 64)), ((1, 8, 8), (5, 8, 8)),
                                               ((3, 4, 4), (5, 3, 4, 4)), ((3, 4, 4), (5, 48)), ((6,), (5, 6))])
def test_served_model_takes_every_layout_of_the_data(sample, batch):
    torch.manual_seed(0)
    net = mlp(sample, 3, hidden_dim=8)
    served = as_served(net, input_shape=sample)
    x = torch.rand(5, *sample)
    assert torch.allclose(served(x.reshape(batch)), net.eval()(x))
    assert served(x.reshape(batch).double()).dtype == torch.float32


@pytest.mark.parametrize(("sample", "batch", "expected"), [
    ((1, 8, 8), (5, 63), "(N, 1, 8, 8), (N, 64) or (N, 8, 8)"),
    ((1, 8, 8), (5, 2, 8, 8), "(N, 1, 8, 8), (N, 64) or (N, 8, 8)"),
    ((3, 4, 4), (5, 4, 4), "(N, 3, 4, 4) or (N, 48)"),  # (N, H, W) only for one channel
    ((6,), (5, 2, 3), "(N, 6)"),
])
def test_served_model_names_the_shape_it_got_and_those_it_takes(sample, batch, expected):
    served = as_served(mlp(sample, 3, hidden_dim=8), input_shape=sample)
    with pytest.raises(ValueError) as info:
        served(torch.rand(*batch))
    assert str(info.value) == f"input of shape {batch} does not fit this model: expected {expected}"
