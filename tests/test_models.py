from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf

from pipeline.errors import ConfigError
from pipeline.models import ACTIVATIONS, build_model

SHAPES = [(1, 8, 8), (1, 28, 28), (3, 32, 32)]
MLP = {"name": "mlp", "num_layers": 2, "hidden_dim": 16, "activation": "relu", "batch_norm": True}
CNN = {"name": "cnn", "num_conv_layers": 3, "channels": 4, "kernel_size": 3, "hidden_dim": 16, "activation": "relu"}


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("spec", [MLP, CNN], ids=["mlp", "cnn"])
def test_models_adapt_to_input_shape_and_classes(spec, shape):
    model = build_model(OmegaConf.create(spec), shape, num_classes=7, dropout=0.2)
    out = model(torch.rand(5, *shape))
    assert out.shape == (5, 7)


@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
def test_every_activation_builds(act):
    model = build_model(OmegaConf.create({**MLP, "activation": act}), (1, 8, 8), 10)
    assert any(isinstance(m, ACTIVATIONS[act]) for m in model.modules())


def test_unknown_activation_names_the_value():
    with pytest.raises(ConfigError, match="'swish'"):
        build_model(OmegaConf.create({**MLP, "activation": "swish"}), (1, 8, 8), 10)


def test_zero_hidden_layers_is_logistic_regression():
    model = build_model(OmegaConf.create({**MLP, "num_layers": 0}), (1, 8, 8), 10)
    assert sum(isinstance(m, torch.nn.Linear) for m in model.modules()) == 1
