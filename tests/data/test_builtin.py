"""Built-in data entries: the embedded digits set, and torchvision formats written by the tests themselves."""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from pipeline.data import load_data
from pipeline.errors import ConfigError, DataError


def data_cfg(name: str = "digits", **kw):
    base = {"_target_": f"pipeline.data.{name}", "test_fraction": 0.2, "subset": None, "seed": 0}
    return OmegaConf.create({**base, **kw})


def load_dataset(cfg):
    """The entry as the trial loads it, with its parts' tensors at hand."""
    split = load_data(cfg)
    split.X_train, split.y_train, split.X_test, split.y_test = split.train.X, split.train.y, split.test.X, split.test.y
    return split


def write_idx(folder: Path, prefix: str, images: np.ndarray, labels: np.ndarray) -> None:
    """Write MNIST's IDX format (big-endian header, then uint8 payload)."""
    folder.mkdir(parents=True, exist_ok=True)
    n, h, w = images.shape
    (folder / f"{prefix}-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 0x803, n, h, w) + images.tobytes())
    (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 0x801, n) + labels.tobytes())


def make_idx_dataset(root: Path, sub: str, n_train: int = 60, n_test: int = 20) -> None:
    rng = np.random.default_rng(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        write_idx(root / sub / "raw", prefix, images, (np.arange(n) % 10).astype(np.uint8))


def make_cifar10(root: Path, per_batch: int = 20) -> None:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {"data": rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8),
                 "labels": [i % 10 for i in range(per_batch)]}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)


def test_digits_split_is_stratified_and_fixed_by_seed():
    a, b = load_dataset(data_cfg()), load_dataset(data_cfg())
    assert a.input_shape == (1, 8, 8) and a.num_outputs == 10 and a.task == "classification"
    assert len(a.y_train) + len(a.y_test) == 1797
    assert len(a.y_test) == pytest.approx(0.2 * 1797, abs=1)
    assert torch.equal(a.X_test, b.X_test)
    assert float(a.X_train.min()) >= 0.0 and float(a.X_train.max()) <= 1.0
    share = torch.bincount(a.y_test, minlength=10) / len(a.y_test)
    assert float((share - 0.1).abs().max()) < 0.02
    c = load_dataset(data_cfg(seed=1))
    assert not torch.equal(a.X_test, c.X_test)


def test_subset_caps_samples():
    d = load_dataset(data_cfg(subset=300))
    assert len(d.y_train) + len(d.y_test) == 300
    with pytest.raises(ConfigError, match="data.subset=5"):
        load_dataset(data_cfg(subset=5))
    with pytest.raises(ConfigError, match="data.test_fraction=1.5"):
        load_dataset(data_cfg(test_fraction=1.5))


@pytest.mark.parametrize("name,sub", [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")])
def test_idx_files_read_by_torchvision(tmp_path, name, sub):
    make_idx_dataset(tmp_path, sub)
    d = load_dataset(data_cfg(name, root=str(tmp_path)))
    assert d.input_shape == (1, 28, 28) and d.num_outputs == 10
    assert len(d.y_train) + len(d.y_test) == 80


def test_cifar10_batches(tmp_path):
    make_cifar10(tmp_path)
    d = load_dataset(data_cfg("cifar10", root=str(tmp_path)))
    assert d.input_shape == (3, 32, 32) and len(d.y_train) + len(d.y_test) == 120


@pytest.mark.parametrize("name,sub", [("mnist", "MNIST/raw"), ("cifar10", "cifar-10-batches-py")])
def test_missing_files_say_where_to_put_them(tmp_path, name, sub):
    with pytest.raises(DataError, match="put the files in") as e:
        load_dataset(data_cfg(name, root=str(tmp_path)))
    assert str(tmp_path / sub) in str(e.value) and "data.download=true" in str(e.value)


def test_a_target_that_is_no_data_entry_is_refused():
    with pytest.raises(ConfigError, match=r"data._target_='pipeline.models.mlp' failed|returned"):
        load_data(OmegaConf.create({"_target_": "pipeline.models.mlp", "input_shape": [4], "num_outputs": 2}))
    with pytest.raises(ConfigError, match=r"data._target_='pipeline.data.nope' cannot be imported"):
        load_data(OmegaConf.create({"_target_": "pipeline.data.nope"}))
