"""The built-in model factories, called as any plugged-in factory is (``pipeline.contract``)."""

from __future__ import annotations

import pytest
import torch

from pipeline.errors import ConfigError
from pipeline.models import ACTIVATIONS, as_served, cnn, mlp

SHAPES = [(1, 8, 8), (1, 28, 28), (3, 32, 32)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("factory", [mlp, cnn], ids=["mlp", "cnn"])
def test_models_adapt_to_input_shape_and_outputs(factory, shape):
    model = factory(input_shape=shape, num_outputs=7, hidden_dim=16, dropout=0.2)
    assert model(torch.rand(5, *shape)).shape == (5, 7)


def test_mlp_takes_tables_and_cnn_refuses_them():
    assert mlp(input_shape=(10,), num_outputs=1, batch_norm=True)(torch.rand(4, 10)).shape == (4, 1)
    with pytest.raises(ConfigError, match=r"model=cnn cannot take the data's samples of shape \(10,\): expected images \(C, H, W\)"):
        cnn(input_shape=(10,), num_outputs=2)


@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
def test_every_activation_builds(act):
    model = mlp((1, 8, 8), 10, activation=act)
    assert any(isinstance(m, ACTIVATIONS[act]) for m in model.modules())


def test_unknown_activation_and_bad_sizes_name_the_value():
    with pytest.raises(ConfigError, match="'swish'"):
        mlp((1, 8, 8), 10, activation="swish")
    with pytest.raises(ConfigError, match="model.hidden_dim=0"):
        mlp((1, 8, 8), 10, hidden_dim=0)


def test_zero_hidden_layers_is_logistic_regression():
    model = mlp((1, 8, 8), 10, num_layers=0)
    assert sum(isinstance(m, torch.nn.Linear) for m in model.modules()) == 1


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
