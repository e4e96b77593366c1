"""k-fold cross-validation and the refit, on real digits (stratified) and on a regression set (shuffled)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pipeline.contract import DataSplit, TensorData
from pipeline.data import load_data
from pipeline.results.reproduce import compose
from pipeline.training.batches import Scaling, batches
from pipeline.training.cv import CVResult, cross_validate, fold_indices, refit
from pipeline.training.loop import FitResult, Targets, evaluate
from tests.conftest import TINY

CPU = torch.device("cpu")


class Recorder:
    """A fold callback that keeps what it is given, in order."""

    def __init__(self) -> None:
        self.events: list[tuple] = []

    def on_epoch_end(self, fold, epoch, record):
        self.events.append(("epoch", fold, epoch))

    def on_fold_end(self, fold, result):
        self.events.append(("fold", fold, result.best_epoch))


@pytest.fixture(scope="module")
def run():
    cfg = compose([*TINY, "cv.folds=3"])
    data = load_data(cfg.data)
    rec = Recorder()
    result = cross_validate(cfg, data, CPU, callbacks=(rec,))
    return cfg, data, result, rec


def test_one_fit_per_fold_and_callbacks_in_order(run):
    cfg, _, result, rec = run
    assert len(result.folds) == 3 and result.n_params > 0
    expected = []
    for k, fold in enumerate(result.folds):
        expected += [("epoch", k, e) for e in range(1, len(fold.history) + 1)] + [("fold", k, fold.best_epoch)]
    assert rec.events == expected


def test_objective_is_the_mean_of_each_folds_best_score(run):
    _, _, result, _ = run
    best = [max(r["val_accuracy"] for r in f.history) for f in result.folds]
    assert result.scores == best and result.mean == pytest.approx(np.mean(best))
    assert result.std == pytest.approx(np.std(best))


def test_refit_epochs_is_the_median_best_epoch():
    folds = [FitResult(best_epoch=e) for e in (3, 9, 4)]
    assert CVResult(folds).refit_epochs() == 4
    assert CVResult([FitResult(best_epoch=0)]).refit_epochs() == 1


def test_same_seed_same_folds_and_scores(run):
    cfg, data, result, _ = run
    again = cross_validate(cfg, data, CPU)
    assert again.scores == result.scores and again.best_epochs == result.best_epochs


def test_classification_folds_are_stratified_and_regression_folds_shuffled(run):
    _, data, _, _ = run
    for tr, va in fold_indices(data, 3, 0):
        share = torch.bincount(data.targets[va], minlength=10) / len(va)
        overall = torch.bincount(data.targets, minlength=10) / len(data.targets)
        assert float((share - overall).abs().max()) < 0.02 and len(np.intersect1d(tr, va)) == 0
    X = torch.randn(50, 3)
    reg = DataSplit(TensorData(X, X.sum(1)), TensorData(X[:5], X[:5].sum(1)), task="regression")
    folds = fold_indices(reg, 5, 0)
    assert sorted(np.concatenate([va for _, va in folds]).tolist()) == list(range(50))
    assert folds[0][1].tolist() != list(range(10))  # shuffled


def test_refit_scores_the_held_out_split_with_its_own_normalisation(run):
    cfg, data, result, _ = run
    fitted = refit(cfg, data, result.refit_epochs(), CPU)
    assert fitted.epochs == result.refit_epochs() and fitted.input_shape == data.input_shape
    assert torch.allclose(fitted.scaling.x_mean, data.train.X.mean(dim=(0, 2, 3), keepdim=True))  # training part
    scores = evaluate(fitted.model, batches(data.test, None, fitted.scaling, CPU, 64), Targets(data.task, 10))
    assert {f"test_{k}": v for k, v in scores.items()} == fitted.test and scores["accuracy"] > 0.5


@pytest.mark.slow  # 30 epochs of two folds and a refit: ~13 s
def test_regression_learns_in_standardised_units_and_reports_in_the_targets_units():
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    X, y = torch.tensor(X, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)
    data = DataSplit(TensorData(X[:350], y[:350]), TensorData(X[350:], y[350:]), task="regression")
    from pipeline.contract import checked

    data = checked(data, "diabetes")
    cfg = compose([*TINY, "trainer.epochs=30", "cv.metric=val_rmse", "optimizer.lr=0.01"])
    result = cross_validate(cfg, data, CPU)
    assert set(result.folds[0].history[0]) == {"train_loss", "lr", "val_loss", "val_rmse", "val_mae", "val_r2"}
    assert 40 < result.mean < 75  # the targets' units (their std is about 77), not standardised ones
    fitted = refit(cfg, data, result.refit_epochs(), CPU)
    assert fitted.scaling.y_mean.shape == (1,) and abs(float(fitted.scaling.y_mean) - float(y[:350].mean())) < 1e-3
    assert fitted.test["test_r2"] > 0.2
    constant = evaluate(_Constant(float(y[:350].mean())), batches(data.test, None, Scaling(), CPU, 64),
                        Targets("regression", 1))
    assert constant["r2"] < 0.05 < fitted.test["test_r2"]  # better than predicting the training mean


class _Constant(torch.nn.Module):
    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def forward(self, x):
        return torch.full((len(x), 1), self.value)


def test_the_dataloader_path_trains_exactly_as_the_in_memory_path(run):
    """The same digits as map-style datasets: read through a DataLoader, yet the same folds, batches and scores."""
    from torch.utils.data import TensorDataset

    cfg, data, result, _ = run
    as_datasets = DataSplit(TensorDataset(data.train.X, data.train.y), TensorDataset(data.test.X, data.test.y),
                            task=data.task, num_outputs=data.num_outputs, input_shape=data.input_shape,
                            targets=data.targets)
    assert not as_datasets.in_memory
    streamed = cross_validate(cfg, as_datasets, CPU)
    assert streamed.scores == pytest.approx(result.scores, abs=1e-6) and streamed.best_epochs == result.best_epochs
