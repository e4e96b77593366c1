"""Building config entries by ``_target_``: partials called, errors naming the entry, task defaults."""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf

from pipeline.errors import ConfigError, DataError
from pipeline.results.reproduce import compose
from pipeline.training.builders import build, build_loss, build_model, build_scheduler, check_parts, name_of


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


def table(task: str = "classification", outputs: int = 3):
    from pipeline.contract import DataSplit, TensorData, checked

    y = torch.arange(8) % outputs if task == "classification" else torch.rand(8)
    return checked(DataSplit(TensorData(torch.rand(8, 4), y), TensorData(torch.rand(4, 4), y[:4]), task=task), "t")


def test_the_parts_are_built_and_take_one_step_on_real_samples():
    cfg = compose(["model=mlp", "model.hidden_dim=8"])
    assert build_model(cfg, (1, 8, 8), 10)(torch.rand(3, 1, 8, 8)).shape == (3, 10)
    check_parts(cfg, table())  # an MLP takes tables too
    check_parts(compose(["model=mlp", "cv.metric=val_rmse", "scheduler=plateau"]), table("regression"))
    ten = compose(["model=mlp", "model._target_=tests.training.test_builders.ten_outputs", "~model.hidden_dim",
                   "~model.num_layers", "~model.activation", "~model.batch_norm", "~model.dropout"])
    with pytest.raises(ConfigError, match=r"gives outputs of shape \(10,\) per sample; expected \(3,\)"):
        check_parts(ten, table())


@pytest.mark.parametrize("override, named", [
    ("optimizer._target_=torch.optim.Adamm", "optimizer._target_='torch.optim.Adamm' cannot be imported"),
    ("+loss={_target_: torch.nn.NopeLoss}", "loss._target_='torch.nn.NopeLoss' cannot be imported"),
    ("+loss={_target_: torch.nn.L1Loss}", "loss._target_='torch.nn.L1Loss' cannot take the model's outputs"),
    ("scheduler=step|scheduler._target_=torch.optim.lr_scheduler.Nope", "scheduler._target_="),
])
def test_a_part_that_cannot_be_built_or_used_is_named_before_training(override, named):
    with pytest.raises(ConfigError) as e:
        check_parts(compose(["model=mlp", *override.split("|")]), table())
    assert named in str(e.value) and "\n" not in str(e.value)


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
