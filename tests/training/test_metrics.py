"""Each task's metrics, accumulated batch by batch, against scikit-learn computed on everything at once."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    log_loss,
    mean_absolute_error,
    mean_squared_error,
    r2_score,
)

from pipeline.training.metrics import ClassificationMetrics, RegressionMetrics, accumulator


def in_batches(acc, out, y, size=7):
    for start in range(0, len(y), size):
        acc.update(out[start:start + size], y[start:start + size])
    return acc.compute()


def test_classification_matches_scikit_learn():
    torch.manual_seed(0)
    logits, y = torch.randn(50, 4), torch.randint(0, 4, (50,))
    got = in_batches(ClassificationMetrics(4), logits, y)
    pred = logits.argmax(1).numpy()
    assert got["accuracy"] == pytest.approx(accuracy_score(y, pred))
    assert got["f1_macro"] == pytest.approx(f1_score(y, pred, average="macro"))
    assert got["loss"] == pytest.approx(log_loss(y, torch.softmax(logits, 1).numpy(), labels=range(4)), rel=1e-5)


def test_macro_f1_counts_only_classes_that_occur():
    """Class 2 never appears, as target or prediction: it does not pull the average down."""
    logits = torch.tensor([[5.0, 0, 0], [0, 5.0, 0], [5.0, 0, 0]])
    got = in_batches(ClassificationMetrics(3), logits, torch.tensor([0, 1, 1]))
    assert got["f1_macro"] == pytest.approx(f1_score([0, 1, 1], [0, 1, 0], average="macro"))


@pytest.mark.parametrize("targets", [1, 3])
def test_regression_matches_scikit_learn(targets):
    rng = np.random.default_rng(0)
    y = rng.normal(100, 20, size=(40, targets)).astype(np.float32)
    pred = y + rng.normal(0, 5, size=y.shape).astype(np.float32)
    shape = (40,) if targets == 1 else (40, targets)
    got = in_batches(RegressionMetrics(targets), torch.tensor(pred.reshape(shape)), torch.tensor(y.reshape(shape)))
    assert got["loss"] == pytest.approx(mean_squared_error(y, pred), rel=1e-6)
    assert got["rmse"] == pytest.approx(np.mean(np.sqrt(((pred - y) ** 2).mean(0))), rel=1e-6)
    assert got["mae"] == pytest.approx(mean_absolute_error(y, pred), rel=1e-6)
    assert got["r2"] == pytest.approx(r2_score(y, pred), rel=1e-6)


def test_r2_of_a_constant_target_is_nan_not_infinite():
    got = in_batches(RegressionMetrics(1), torch.tensor([1.0, 2.0]), torch.tensor([3.0, 3.0]))
    assert math.isnan(got["r2"]) and got["mae"] == pytest.approx(1.5)


def test_accumulator_follows_the_task():
    assert isinstance(accumulator("classification", 3), ClassificationMetrics)
    assert isinstance(accumulator("regression", 1), RegressionMetrics)
