"""Stratified k-fold cross-validation and the refit, on real digits with tiny budgets."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pipeline.cv import CVResult, cross_validate, refit
from pipeline.data import load_dataset
from pipeline.loop import FitResult, evaluate
from tests.conftest import TINY


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
    from pipeline.reproduce import compose

    cfg = compose([*TINY, "cv.folds=3"])
    data = load_dataset(cfg.data)
    rec = Recorder()
    result = cross_validate(cfg, data, torch.device("cpu"), callbacks=(rec,))
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
    again = cross_validate(cfg, data, torch.device("cpu"))
    assert again.scores == result.scores and again.best_epochs == result.best_epochs


def test_refit_scores_the_held_out_split_with_its_own_normalisation(run):
    cfg, data, result, _ = run
    fitted = refit(cfg, data, result.refit_epochs(), torch.device("cpu"))
    assert fitted.epochs == result.refit_epochs() and fitted.input_shape == data.input_shape
    assert torch.allclose(fitted.mean, data.X_train.mean(dim=(0, 2, 3), keepdim=True))  # training part only
    loss, acc = evaluate(fitted.model, (data.X_test - fitted.mean) / fitted.std, data.y_test)
    assert (loss, acc) == (fitted.test_loss, fitted.test_accuracy) and acc > 0.5
