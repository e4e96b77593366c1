"""Batches from memory and through a DataLoader: same samples, per-fold statistics streamed, transforms only
where they belong."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset, TensorDataset

from pipeline.contract import TensorData
from pipeline.training.batches import LoaderBatches, Scaling, TensorBatches, batches, fold_scaling

CPU = torch.device("cpu")


class Images(Dataset):
    """A map-style dataset that only ever hands out one sample at a time, like one read from disk."""

    def __init__(self, X, y):
        self.X, self.y = X, y

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.X[i], self.y[i]


@pytest.fixture
def images():
    torch.manual_seed(0)
    X = torch.rand(30, 2, 4, 4) * torch.tensor([1.0, 10.0])[None, :, None, None] + torch.tensor([0.0, 5.0])[None, :,
                                                                                                            None, None]
    return X, torch.arange(30) % 3


def test_fold_statistics_come_from_the_fold_only_and_match_between_paths(images):
    X, y = images
    idx = np.arange(0, 20)
    mem = fold_scaling(TensorData(X, y), idx, "classification", True)
    streamed = fold_scaling(Images(X, y), idx, "classification", True)
    assert mem.x_mean.shape == (1, 2, 1, 1)
    assert torch.allclose(mem.x_mean.flatten(), X[:20].mean(dim=(0, 2, 3)), atol=1e-5)
    assert torch.allclose(mem.x_std.flatten(), X[:20].std(dim=(0, 2, 3), unbiased=False), atol=1e-4)
    assert torch.allclose(mem.x_mean, streamed.x_mean) and torch.allclose(mem.x_std, streamed.x_std)
    assert fold_scaling(TensorData(X, y), idx, "classification", False).x_mean is None


def test_tables_are_scaled_per_feature_and_regression_targets_per_target():
    X = torch.tensor([[1.0, 100.0], [3.0, 300.0], [5.0, 500.0]])
    y = torch.tensor([10.0, 20.0, 30.0])
    s = fold_scaling(TensorData(X, y), np.arange(3), "regression", True)
    assert s.x_mean.shape == (1, 2) and torch.allclose(s.x_mean, torch.tensor([[3.0, 300.0]]))
    assert torch.allclose(s.y_mean, torch.tensor([20.0])) and torch.allclose(s.targets(y), (y - 20.0) / s.y_std)
    assert torch.allclose(s.outputs(s.targets(y)[:, None]).flatten(), y)


def test_both_paths_give_the_same_batches(images):
    X, y = images
    scaling = fold_scaling(TensorData(X, y), np.arange(30), "classification", True)
    mem = batches(TensorData(X, y), np.arange(5, 25), scaling, CPU, 8)
    loader = batches(Images(X, y), np.arange(5, 25), scaling, CPU, 8)
    assert isinstance(mem, TensorBatches) and isinstance(loader, LoaderBatches) and len(mem) == len(loader) == 20
    (xm, ym), = [(torch.cat([b[0] for b in mem.epoch()]), torch.cat([b[1] for b in mem.epoch()]))]
    xl, yl = torch.cat([b[0] for b in loader.epoch()]), torch.cat([b[1] for b in loader.epoch()])
    assert torch.allclose(xm, xl) and torch.equal(ym, yl) and torch.allclose(xm, scaling.inputs(X[5:25]))


def test_shuffled_epochs_cover_every_sample_once_and_follow_the_generator(images):
    X, y = images
    loader = batches(Images(X, y.float() * 0 + torch.arange(30).float()), None, Scaling(), CPU, 8)
    seen = torch.cat([b[1] for b in loader.epoch(torch.Generator().manual_seed(1))])
    again = torch.cat([b[1] for b in loader.epoch(torch.Generator().manual_seed(1))])
    assert sorted(seen.tolist()) == list(range(30)) and torch.equal(seen, again) and seen.tolist() != list(range(30))


def test_a_transform_applies_to_the_batches_it_is_given_to_only(images):
    X, y = images
    mark = lambda x: torch.full_like(x, -1.0)  # noqa: E731
    train = batches(Images(X, y), np.arange(10), Scaling(), CPU, 4, transform=mark)
    val = batches(Images(X, y), np.arange(10, 20), Scaling(), CPU, 4)
    assert all(bool((xb == -1).all()) for xb, _ in train.epoch(torch.Generator().manual_seed(0)))
    assert not any(bool((xb == -1).any()) for xb, _ in val.epoch())


def test_a_last_training_batch_of_one_sample_is_dropped():
    data = TensorData(torch.rand(9, 3), torch.arange(9) % 2)
    sizes = [len(b[1]) for b in batches(data, None, Scaling(), CPU, 4).epoch(torch.Generator().manual_seed(0))]
    assert sizes == [4, 4]
    sizes = [len(b[1]) for b in batches(TensorDataset(data.X, data.y), None, Scaling(), CPU, 4)
             .epoch(torch.Generator().manual_seed(0))]
    assert sizes == [4, 4]
