"""Every group combination composes and builds; every bad value is refused before anything runs."""

from __future__ import annotations

import itertools

import pytest
import torch
from hydra.errors import HydraException

from pipeline.data import load_data
from pipeline.errors import ConfigError
from pipeline.training import checks
from pipeline.training.builders import build_loss, build_model, build_optimizer, build_scheduler
from tests.data.test_builtin import make_cifar10, make_idx_dataset

MODELS = ["mlp", "cnn"]
OPTIMIZERS = ["sgd", "adam", "adamw", "rmsprop"]
DATA = {"digits": None, "mnist": "MNIST", "fashion_mnist": "FashionMNIST", "cifar10": "cifar"}


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    make_idx_dataset(root, "MNIST")
    make_idx_dataset(root, "FashionMNIST")
    make_cifar10(root)
    return root


SCHEDULERS = ["none", "cosine", "step", "plateau"]


@pytest.mark.parametrize("model,optimizer,data", list(itertools.product(MODELS, OPTIMIZERS, DATA)))
def test_every_combination_composes_builds_and_steps(compose_cfg, data_root, model, optimizer, data):
    root = [] if data == "digits" else [f"data.root={data_root}"]
    cfg = compose_cfg([f"model={model}", f"optimizer={optimizer}", f"data={data}", *root])
    checks.validate(cfg)
    ds = load_data(cfg.data)
    checks.validate_for_data(cfg, ds)
    net = build_model(cfg, ds.input_shape, ds.num_outputs)
    opt = build_optimizer(cfg, net.parameters())
    assert opt.param_groups[0]["weight_decay"] == cfg.regularization.weight_decay  # interpolated from regularization
    before = [p.detach().clone() for p in net.parameters()]
    loss = build_loss(cfg, ds.task)(net(ds.train.X[:8]), ds.train.y[:8])
    loss.backward()
    opt.step()
    assert any(not torch.equal(a, b) for a, b in zip(before, net.parameters()))


@pytest.mark.parametrize("scheduler", SCHEDULERS)
def test_every_scheduler_builds_and_steps(compose_cfg, scheduler):
    cfg = compose_cfg([f"scheduler={scheduler}", "optimizer.lr=0.1"])
    opt = build_optimizer(cfg, torch.nn.Linear(2, 1).parameters())
    sched = build_scheduler(cfg, opt)
    assert (sched is None) == (scheduler == "none")
    if scheduler == "cosine":
        assert sched.T_max == cfg.trainer.epochs
        sched.step()
        assert opt.param_groups[0]["lr"] < 0.1


def test_any_torch_optimizer_and_scheduler_by_name(compose_cfg):
    cfg = compose_cfg(["optimizer._target_=torch.optim.Adagrad", "~optimizer.betas", "optimizer.lr=0.5",
                       "+scheduler._target_=torch.optim.lr_scheduler.ExponentialLR", "+scheduler._partial_=true",
                       "+scheduler.gamma=0.5"])
    opt = build_optimizer(cfg, torch.nn.Linear(2, 1).parameters())
    assert isinstance(opt, torch.optim.Adagrad)
    sched = build_scheduler(cfg, opt)
    sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.25)


BAD = [
    ("optimizer.lr=0", "optimizer.lr=0"),
    ("optimizer.lr=-0.1", "optimizer.lr=-0.1"),
    ("trainer.batch_size=0", "trainer.batch_size=0"),
    ("trainer.batch_size=-4", "trainer.batch_size=-4"),
    ("cv.folds=1", "cv.folds=1"),
    ("cv.metric=f1", "cv.metric='f1'"),
    ("regularization.dropout=1.5", "regularization.dropout=1.5"),
    ("trainer.device=tpu", "trainer.device='tpu'"),
    ("trainer.precision=8", "trainer.precision=8"),
    ("pruning.pruner=hyperband", "pruning.pruner='hyperband'"),
    ("pruning.min_resource=0", "pruning.min_resource=0"),
    ("pruning.n_startup_trials=-1", "pruning.n_startup_trials=-1"),
]


@pytest.mark.parametrize("override,named", BAD)
def test_bad_values_are_named(compose_cfg, override, named):
    with pytest.raises(ConfigError) as e:
        checks.validate(compose_cfg([override]))
    assert named in str(e.value) and "expected" in str(e.value)


def test_folds_larger_than_smallest_class(compose_cfg):
    cfg = compose_cfg(["data.subset=100", "cv.folds=12"])
    with pytest.raises(ConfigError,
                       match=r"cv.folds=12 is larger than the smallest class .* \(class \d: \d+ samples\)"):
        checks.validate_for_data(cfg, load_data(cfg.data))


@pytest.mark.parametrize("override, named", [
    ("cv.metric=val_rmse", "cv.metric='val_rmse' is not reported by a classification task"),
    ("model=cnn", None),  # digits are images: fine
    ("model.activation=swish", "model.activation='swish'"),
    ("model._target_=no_such_package.net", "model._target_='no_such_package.net' cannot be imported"),
    ("model._target_=torch.nn.Linear", "model._target_='torch.nn.Linear' failed"),
])
def test_checks_against_the_data(compose_cfg, override, named):
    cfg = compose_cfg(["data.subset=100", override])
    data = load_data(cfg.data)
    if named is None:
        checks.validate_for_data(cfg, data)
        return
    with pytest.raises(ConfigError) as e:
        checks.validate_for_data(cfg, data)
    assert named in str(e.value) and len(str(e.value).splitlines()) == 1


@pytest.mark.parametrize("override", ["model=transformer", "optimizer=lamb", "data=imagenet", "model.depth=3",
                                      "scheduler=linear"])
def test_unknown_group_option_or_key_is_refused_by_hydra(compose_cfg, override):
    with pytest.raises(HydraException):
        compose_cfg([override])


@pytest.mark.parametrize("metric, wrong", [("val_loss", "max"), ("val_accuracy", "min")])
def test_a_plateau_mode_against_the_objective_is_refused(compose_cfg, metric, wrong):
    with pytest.raises(ConfigError, match=rf"scheduler.mode='{wrong}' is invalid: expected '(min|max)' for cv.metric"):
        checks.check(compose_cfg(["scheduler=plateau", f"+scheduler.mode={wrong}", f"cv.metric={metric}"]))
    right = "min" if wrong == "max" else "max"
    checks.check(compose_cfg(["scheduler=plateau", f"+scheduler.mode={right}", f"cv.metric={metric}"]))


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="a CUDA device is present")
def test_cuda_without_a_gpu_is_refused_before_the_run(compose_cfg):
    with pytest.raises(ConfigError, match="trainer.device='cuda' is invalid: no CUDA device is available"):
        checks.check(compose_cfg(["trainer.device=cuda"]))
