"""The built-in model factories, called as any plugged-in factory is (``pipeline.contract``)."""

from __future__ import annotations

import pytest
import torch

from pipeline.errors import ConfigError
from pipeline.models import ACTIVATIONS, cnn, mlp

SHAPES = [(1, 8, 8), (1, 28, 28), (3, 32, 32)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("factory", [mlp, cnn], ids=["mlp", "cnn"])
def test_models_adapt_to_input_shape_and_outputs(factory, shape):
    model = factory(input_shape=shape, num_outputs=7, hidden_dim=16, dropout=0.2)
    assert model(torch.rand(5, *shape)).shape == (5, 7)


def test_mlp_takes_tables_and_cnn_refuses_them():
    assert mlp(input_shape=(10,), num_outputs=1, batch_norm=True)(torch.rand(4, 10)).shape == (4, 1)
    with pytest.raises(ConfigError,
                       match=r"model=cnn cannot take the data's samples of shape \(10,\): expected images \(C, H, W\)"):
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
