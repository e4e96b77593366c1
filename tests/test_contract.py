"""The plug-in contract's checks: what a data entry may return, and what is derived when it does not say."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import Dataset, TensorDataset

from pipeline.contract import DataSplit, TensorData, checked
from pipeline.errors import ConfigError


def part(n=10, features=3, labels=True):
    X = torch.rand(n, features)
    return TensorData(X, torch.arange(n) % 4 if labels else X.sum(1))


def test_derived_fields_for_in_memory_classification():
    split = checked(DataSplit(part(), part(4)), "mine")
    assert split.input_shape == (3,) and split.num_outputs == 4 and torch.equal(split.targets, torch.arange(10) % 4)
    assert split.in_memory


@pytest.mark.parametrize("y_shape, outputs", [((10,), 1), ((10, 2), 2)])
def test_regression_outputs_follow_the_targets(y_shape, outputs):
    X = torch.rand(10, 3)
    split = checked(DataSplit(TensorData(X, torch.rand(*y_shape)), TensorData(X, torch.rand(*y_shape)),
                              task="regression"), "mine")
    assert split.num_outputs == outputs and split.targets is None


class NoTargets(Dataset):
    def __len__(self):
        return 6

    def __getitem__(self, i):
        return torch.zeros(1, 2, 2), i % 2


def test_a_dataset_gives_its_labels_through_targets_or_the_split():
    ds = TensorDataset(torch.rand(6, 1, 2, 2), torch.arange(6) % 2)
    ds.targets = torch.arange(6) % 2
    split = checked(DataSplit(ds, ds), "mine")
    assert split.input_shape == (1, 2, 2) and split.num_outputs == 2 and not split.in_memory
    with pytest.raises(ConfigError, match="needs its labels, for stratified folds"):
        checked(DataSplit(NoTargets(), NoTargets()), "mine")
    assert checked(DataSplit(NoTargets(), NoTargets(), targets=torch.arange(6) % 2), "mine").num_outputs == 2


@pytest.mark.parametrize("split, named", [
    ({"train": 1}, "returned dict; expected a pipeline.contract.DataSplit"),
    (DataSplit(part(), part(), task="ranking"), "task='ranking'"),
    (DataSplit([1, 2, 3], part()), "the items of train are not (x, y) pairs of tensors"),
    (DataSplit(part(1), part()), "train has 1 samples; expected at least 2"),
    (DataSplit(TensorData(torch.rand(5), torch.arange(5)), part()), "samples are scalars"),
])
def test_contract_breaches_name_the_entry(split, named):
    with pytest.raises(ConfigError) as e:
        checked(split, "my_pkg.data.mine")
    assert "data._target_='my_pkg.data.mine'" in str(e.value) and (named is None or named in str(e.value))
