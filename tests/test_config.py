"""Every group combination composes and builds; every bad value is refused before anything runs."""

from __future__ import annotations

import itertools

import pytest
import torch
from hydra.errors import HydraException

from pipeline import config as checks
from pipeline.data import load_dataset
from pipeline.errors import ConfigError
from pipeline.models import build_model
from pipeline.optim import build_optimizer
from tests.test_data import make_cifar10, make_idx_dataset

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


@pytest.mark.parametrize("model,optimizer,data", list(itertools.product(MODELS, OPTIMIZERS, DATA)))
def test_every_combination_composes_builds_and_steps(compose_cfg, data_root, model, optimizer, data):
    cfg = compose_cfg([f"model={model}", f"optimizer={optimizer}", f"data={data}", f"data.root={data_root}"])
    checks.validate(cfg)
    ds = load_dataset(cfg.data)
    net = build_model(cfg.model, ds.input_shape, ds.num_classes, cfg.regularization.dropout)
    opt = build_optimizer(cfg.optimizer, net.parameters(), cfg.regularization.weight_decay)
    before = [p.detach().clone() for p in net.parameters()]
    loss = torch.nn.functional.cross_entropy(net(ds.X_train[:8]), ds.y_train[:8])
    loss.backward()
    opt.step()
    assert any(not torch.equal(a, b) for a, b in zip(before, net.parameters()))


BAD = [
    ("optimizer.lr=0", "optimizer.lr=0"),
    ("optimizer.lr=-0.1", "optimizer.lr=-0.1"),
    ("trainer.batch_size=0", "trainer.batch_size=0"),
    ("trainer.batch_size=-4", "trainer.batch_size=-4"),
    ("cv.folds=1", "cv.folds=1"),
    ("cv.metric=f1", "cv.metric='f1'"),
    ("model.activation=swish", "model.activation='swish'"),
    ("optimizer.scheduler=linear", "optimizer.scheduler='linear'"),
    ("regularization.dropout=1.5", "regularization.dropout=1.5"),
    ("trainer.device=tpu", "trainer.device='tpu'"),
]


@pytest.mark.parametrize("override,named", BAD)
def test_bad_values_are_named(compose_cfg, override, named):
    with pytest.raises(ConfigError) as e:
        checks.validate(compose_cfg([override]))
    assert named in str(e.value) and "expected" in str(e.value)


def test_folds_larger_than_smallest_class():
    with pytest.raises(ConfigError, match=r"cv.folds=50 .* smallest class"):
        checks.validate_folds(50, 30)


@pytest.mark.parametrize("override", ["model=transformer", "optimizer=lamb", "data=imagenet", "model.depth=3"])
def test_unknown_group_option_or_key_is_refused_by_hydra(compose_cfg, override):
    with pytest.raises(HydraException):
        compose_cfg([override])
