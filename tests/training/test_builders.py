"""Building config entries by ``_target_``: partials called, errors naming the entry, task defaults."""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf

from pipeline.errors import ConfigError, DataError
from pipeline.results.reproduce import compose
from pipeline.training.builders import build, build_loss, build_model, build_scheduler, check_model, name_of


def test_a_partial_is_called_with_the_arguments_known_later():
    lin = build(OmegaConf.create({"_target_": "torch.nn.Linear", "_partial_": True, "out_features": 2}), "model",
                in_features=3)
    assert isinstance(lin, torch.nn.Linear) and lin.in_features == 3


@pytest.mark.parametrize("entry, named", [
    ({}, "model has no _target_"),
    ({"_target_": "nowhere.net"}, "model._target_='nowhere.net' cannot be imported"),
    ({"_target_": "torch.nn.Linear", "bogus": 1}, "model._target_='torch.nn.Linear' failed: TypeError"),
])
def test_errors_name_the_entry_on_one_line(entry, named):
    with pytest.raises(ConfigError) as e:
        build(OmegaConf.create(entry), "model")
    assert named in str(e.value) and "\n" not in str(e.value)


def test_a_factorys_own_errors_pass_through():
    with pytest.raises(DataError, match="not found under"):
        build(OmegaConf.create({"_target_": "pipeline.data.mnist", "root": "/nonexistent"}), "data")


def test_model_checks():
    cfg = compose(["model=mlp", "model.hidden_dim=8"])
    assert build_model(cfg, (1, 8, 8), 10)(torch.rand(3, 1, 8, 8)).shape == (3, 10)
    check_model(cfg, (4,), 1)  # an MLP takes tables too
    with pytest.raises(ConfigError, match=r"gives outputs of shape \(10,\) per sample; expected \(3,\)"):
        check_model(OmegaConf.create({"model": {"_target_": "tests.training.test_builders.ten_outputs",
                                                "_partial_": True}}),
                    (4,), 3)


def ten_outputs(input_shape, num_outputs):
    return torch.nn.Linear(input_shape[0], 10)


def test_task_default_losses_and_a_configured_one():
    cfg = compose(["regularization.label_smoothing=0.1"])
    ce = build_loss(cfg, "classification")
    assert isinstance(ce, torch.nn.CrossEntropyLoss) and ce.label_smoothing == 0.1
    assert isinstance(build_loss(cfg, "regression"), torch.nn.MSELoss)
    huber = build_loss(compose(["loss={_target_: torch.nn.HuberLoss, delta: 2.0}"]), "regression")
    assert isinstance(huber, torch.nn.HuberLoss) and huber.delta == 2.0


def test_no_scheduler_and_names():
    cfg = compose([])
    assert build_scheduler(cfg, torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), lr=0.1)) is None
    assert name_of(cfg.model) == "mlp" and name_of(cfg.data) == "digits" and name_of(cfg.optimizer) == "Adam"
    assert name_of(OmegaConf.create({}), "x") == "x"
