"""The training loop on real digits: early stopping, the best epoch's weights, the refit, precision, failures."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pipeline.data import load_data
from pipeline.errors import NonFiniteLossError
from pipeline.results.reproduce import compose
from pipeline.training.batches import batches, fold_scaling
from pipeline.training.builders import build_model
from pipeline.training.loop import EarlyStopping, Targets, evaluate, fit
from tests.conftest import TINY

CPU = torch.device("cpu")


@pytest.mark.parametrize("maximize, scores, stops_after, best", [
    (True, [0.5, 0.6, 0.6, 0.55, 0.7], 4, 0.6),   # patience 2: epochs 3 and 4 bring nothing
    (False, [1.0, 0.9, 0.95, 0.92, 0.8], 4, 0.9),
])
def test_early_stopping(maximize, scores, stops_after, best):
    stopper = EarlyStopping(maximize, patience=2)
    epochs = 0
    for s in scores:
        epochs += 1
        stopper.update(s)
        if stopper.should_stop:
            break
    assert epochs == stops_after and stopper.best == best


def test_min_delta_patience_zero_and_nan():
    stopper = EarlyStopping(True, patience=1, min_delta=0.05)
    assert stopper.update(0.5) and not stopper.update(0.54) and stopper.should_stop
    never = EarlyStopping(False, patience=0)
    for s in (1.0, 2.0, math.nan, 4.0):
        never.update(s)
    assert not never.should_stop and never.best == 1.0


@pytest.fixture(scope="module")
def digits():
    """Digits in memory, split 240 / rest by index, scaled with the training part's statistics."""
    cfg = compose([*TINY, "trainer.epochs=6"])
    data = load_data(cfg.data)
    tr, va = np.arange(240), np.arange(240, len(data.train))
    scaling = fold_scaling(data.train, tr, data.task, True)
    train = batches(data.train, tr, scaling, CPU, 32)
    val = batches(data.train, va, scaling, CPU, 32)
    return cfg, data, Targets(data.task, data.num_outputs, scaling), train, val


def model_for(cfg, data, seed=0):
    torch.manual_seed(seed)
    return build_model(cfg, data.input_shape, data.num_outputs)


def test_fit_keeps_the_best_epochs_weights(digits):
    cfg, data, task, train, val = digits
    model = model_for(cfg, data)
    seen = []
    result = fit(model, cfg, task, train, val, seed=0, on_epoch=lambda e, r: seen.append((e, dict(r))))
    assert [e for e, _ in seen] == list(range(1, 7)) and [r for _, r in seen] == result.history
    assert set(result.history[0]) == {"train_loss", "lr", "val_loss", "val_accuracy", "val_f1_macro"}
    scores = [r["val_accuracy"] for r in result.history]
    assert result.best_score == max(scores) and result.best_epoch == scores.index(max(scores)) + 1
    model.load_state_dict(result.best_state)
    assert evaluate(model, val, task)["accuracy"] == result.best_score


def test_fit_stops_early_when_nothing_improves(digits):
    _, data, task, train, val = digits
    cfg = compose([*TINY, "trainer.epochs=10", "regularization.early_stopping.patience=2", "optimizer.lr=1e-12"])
    result = fit(model_for(cfg, data), cfg, task, train, val)
    assert len(result.history) == 3 and result.best_epoch == 1


def test_fit_minimizes_a_loss_metric(digits):
    _, data, task, train, val = digits
    cfg = compose([*TINY, "trainer.epochs=4", "cv.metric=val_loss"])
    result = fit(model_for(cfg, data), cfg, task, train, val)
    assert result.best_score == min(r["val_loss"] for r in result.history)


def test_refit_without_validation_runs_every_epoch_and_keeps_the_last_weights(digits):
    cfg, data, task, train, _ = digits
    model = model_for(cfg, data)
    result = fit(model, cfg, task, train, epochs=2)
    assert len(result.history) == 2 and result.best_epoch == 2 and math.isnan(result.best_score)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in result.best_state.items())


def test_same_seed_same_training(digits):
    cfg, data, task, train, val = digits
    a = fit(model_for(cfg, data), cfg, task, train, val, epochs=2, seed=1)
    b = fit(model_for(cfg, data), cfg, task, train, val, epochs=2, seed=1)
    assert a.history == b.history


def test_a_scheduler_is_stepped_once_per_epoch(digits):
    """StepLR with gamma 0 after the first epoch: the weights freeze, so later epochs' training losses agree."""
    _, data, task, train, _ = digits
    cfg = compose([*TINY, "trainer.epochs=4", "scheduler=step", "scheduler.step_size=1", "scheduler.gamma=0",
                   "regularization.dropout=0"])
    result = fit(model_for(cfg, data), cfg, task, train)
    losses = [r["train_loss"] for r in result.history]
    assert losses[2] == pytest.approx(losses[3], rel=1e-5) and losses[0] != pytest.approx(losses[1], rel=1e-3)


@pytest.mark.parametrize("precision", ["bf16", "16-mixed"])
def test_reduced_precision_trains_on_cpu(digits, precision):
    _, data, task, train, val = digits
    cfg = compose([*TINY, "trainer.epochs=3", f"trainer.precision={precision}"])
    result = fit(model_for(cfg, data), cfg, task, train, val)
    assert all(math.isfinite(r["train_loss"]) for r in result.history) and result.best_score > 0.3


def test_a_diverging_loss_fails_with_the_learning_rate(digits):
    _, data, task, train, val = digits
    cfg = compose([*TINY, "optimizer=sgd", "optimizer.lr=1e12"])
    with pytest.raises(NonFiniteLossError, match="optimizer.lr"):
        fit(model_for(cfg, data), cfg, task, train, val)


def test_evaluate_scores_what_the_task_reports():
    from pipeline.contract import TensorData
    from pipeline.training.batches import Scaling, TensorBatches

    logits = torch.tensor([[2.0, 0.0], [0.0, 3.0], [1.0, 0.0]])
    data = TensorBatches(TensorData(logits, torch.tensor([0, 1, 1])), None, Scaling(), CPU, 2)
    scores = evaluate(torch.nn.Identity(), data, Targets("classification", 2))
    assert scores["accuracy"] == pytest.approx(2 / 3)
    assert scores["loss"] == pytest.approx(float(torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1, 1]))))
    y = torch.tensor([1.0, 2.0, 4.0])
    reg = TensorBatches(TensorData(y[:, None] + 1.0, y), None, Scaling(), CPU, 2)
    scores = evaluate(torch.nn.Identity(), reg, Targets("regression", 1))
    assert scores["rmse"] == pytest.approx(1.0) and scores["mae"] == pytest.approx(1.0)


# -- the plateau scheduler: with the objective, and in the refit ------------------------------------------------
@pytest.mark.parametrize("metric, mode", [("val_loss", "min"), ("val_accuracy", "max")])
def test_the_plateau_scheduler_follows_the_objectives_direction(metric, mode):
    from pipeline.training.builders import build_scheduler

    cfg = compose([*TINY, "scheduler=plateau", f"cv.metric={metric}"])
    optimizer = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.1)
    assert build_scheduler(cfg, optimizer).mode == mode


@pytest.mark.parametrize("metric", ["val_loss", "val_accuracy"])
def test_an_improving_objective_keeps_the_learning_rate(digits, metric):
    """Digits learn for these epochs: a scheduler working with the objective never lowers the rate, one working
    against it (the old ``mode: max`` on a loss) would halve it after ``patience`` epochs."""
    cfg, data, task, train, val = digits
    cfg = compose([*TINY, "trainer.epochs=6", "scheduler=plateau", "scheduler.patience=1", "optimizer.lr=0.01",
                   f"cv.metric={metric}"])
    result = fit(model_for(cfg, data), cfg, task, train, val, seed=0)
    lrs = [r["lr"] for r in result.history]
    assert lrs == [0.01] * 6, lrs


@pytest.mark.parametrize("metric", ["val_loss", "val_accuracy"])
def test_the_refit_lowers_its_rate_where_the_folds_did(digits, metric):
    """Without a validation split the refit cannot step a plateau scheduler: it trains at the folds' rates, epoch
    by epoch. Before, it stepped on the training loss in max mode and halved its rate every few epochs."""
    from pipeline.training.loop import lr_factors

    cfg, data, task, train, val = digits
    cfg = compose([*TINY, "trainer.epochs=8", "scheduler=plateau", "scheduler.patience=0", "scheduler.factor=0.5",
                   "optimizer.lr=0.5", f"cv.metric={metric}"])  # a rate too high to improve for long: it drops
    folds = [fit(model_for(cfg, data, seed), cfg, task, train, val, seed=seed) for seed in (0, 1, 2)]
    factors = lr_factors([f.history for f in folds], 8)
    assert factors[0] == 1.0 and min(factors) < 1.0  # the folds did lower their rate
    refit = fit(model_for(cfg, data), cfg, task, train, epochs=8, seed=0, lr_factors=factors)
    assert [r["lr"] for r in refit.history] == pytest.approx([0.5 * f for f in factors])
    unguided = fit(model_for(cfg, data), cfg, task, train, epochs=8, seed=0)
    assert [r["lr"] for r in unguided.history] == [0.5] * 8  # no validation value: nothing to step on


def test_lr_factors_take_the_median_fold_and_carry_a_stopped_fold_on():
    from pipeline.training.loop import lr_factors

    folds = [[{"lr": 1.0}, {"lr": 0.5}, {"lr": 0.25}], [{"lr": 2.0}, {"lr": 2.0}], [{"lr": 1.0}, {"lr": 1.0},
                                                                                     {"lr": 0.1}]]
    assert lr_factors(folds, 4) == [1.0, 1.0, 0.25, 0.25]  # per epoch: the middle fold's ratio to its first rate
    assert lr_factors([], 2) == [1.0, 1.0] and lr_factors([[{"train_loss": 1.0}]], 1) == [1.0]
