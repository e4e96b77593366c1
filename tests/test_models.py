"""The built-in model factories, called as any plugged-in factory is (``pipeline.contract``)."""

from __future__ import annotations

import pytest
import torch

from pipeline.errors import ConfigError
from pipeline.models import ACTIVATIONS, cnn, mlp, net

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


# -- the searchable architecture (model=net) --------------------------------------------------------------------
def blocks(model) -> list:
    return [m for m in model.modules() if type(m).__name__ == "_Block"]


@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 32, 32), (20,)])
def test_net_builds_depth_blocks_as_each_layer_says(shape):
    layers = {"layer1": {"width": 8, "norm": "batch", "skip": True, "kernel": 5},
              "layer2": {"width": 16, "norm": "layer", "activation": "tanh", "skip": True},
              "layer3": {"width": 999}}  # past depth: ignored
    model = net(shape, 4, depth=2, **layers)
    assert model(torch.rand(3, *shape)).shape == (3, 4)
    first, second = blocks(model)
    assert len(blocks(model)) == 2 and first.skip and isinstance(second.act, torch.nn.Tanh)
    if len(shape) == 3:
        assert first.op.kernel_size == (5, 5) and first.op.out_channels == 8 and isinstance(second.norm,
                                                                                             torch.nn.GroupNorm)
    else:
        assert first.op.out_features == 8 and isinstance(second.norm, torch.nn.LayerNorm)


def test_a_skip_connection_carries_the_input_past_its_block():
    model = net((8,), 2, depth=1, layer1={"width": 8, "norm": "none", "activation": "relu", "skip": True})
    [block] = blocks(model)
    with torch.no_grad():  # the block's own path gives relu(0) = 0: what is left is the input itself
        block.op.weight.zero_()
        block.op.bias.zero_()
    x = torch.rand(4, 8)
    assert torch.equal(block(x), x)
    plain = net((8,), 2, depth=1, layer1={"width": 8, "norm": "none", "activation": "relu", "skip": False})
    [no_skip] = blocks(plain)
    with torch.no_grad():
        no_skip.op.weight.zero_()
        no_skip.op.bias.zero_()
    assert torch.equal(no_skip(x), torch.zeros_like(x))


@pytest.mark.parametrize("args, named", [
    ({"depth": 3, "layer1": {}, "layer2": {}}, "model.layer3 is not given"),
    ({"depth": 1, "layer1": {"norm": "group"}}, "model.layer1.norm='group'"),
    ({"depth": 1, "layer1": {"width": 0}}, "model.layer1.width=0"),
    ({"depth": 1, "layer1": {"activation": "swish"}}, "model.layer1.activation='swish'"),
    ({"depth": 1, "layer1": {"skip": "yes"}}, "model.layer1.skip='yes'"),
    ({"depth": 1, "layer1": {"stride": 2}}, "model.layer1.stride is not a layer setting"),
    ({"depth": 0}, "model.depth=0"),
    ({"depth": 9}, "model.depth=9"),
])
def test_net_names_a_bad_setting(args, named):
    with pytest.raises(ConfigError) as e:
        net((1, 8, 8), 10, **args)
    assert named in str(e.value) and "expected" in str(e.value)
