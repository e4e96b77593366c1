"""The training loop on real digits: early stopping, the best epoch's weights, the refit, failures."""

from __future__ import annotations

import math

import pytest
import torch

from pipeline.cv import _prep
from pipeline.data import fold_stats, load_dataset
from pipeline.errors import NonFiniteLossError
from pipeline.loop import EarlyStopping, evaluate, fit
from pipeline.models import build_model
from tests.conftest import TINY


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


def test_min_delta_and_patience_zero():
    stopper = EarlyStopping(True, patience=1, min_delta=0.05)
    assert stopper.update(0.5) and not stopper.update(0.54) and stopper.should_stop
    never = EarlyStopping(False, patience=0)
    for s in (1.0, 2.0, 3.0, 4.0):
        never.update(s)
    assert not never.should_stop and never.best == 1.0


@pytest.fixture(scope="module")
def digits(compose_cfg_module):
    cfg = compose_cfg_module([*TINY, "trainer.epochs=6"])
    data = load_dataset(cfg.data)
    mean, std = fold_stats(data.X_train)
    X, X_val = _prep(data.X_train[:240], mean, std, "cpu"), _prep(data.X_train[240:], mean, std, "cpu")
    return cfg, X, data.y_train[:240], X_val, data.y_train[240:], data.input_shape


@pytest.fixture(scope="module")
def compose_cfg_module():
    from pipeline.reproduce import compose

    return compose


def model_for(cfg, shape, seed=0):
    torch.manual_seed(seed)
    return build_model(cfg.model, shape, 10, float(cfg.regularization.dropout))


def test_fit_keeps_the_best_epochs_weights(digits):
    cfg, X, y, X_val, y_val, shape = digits
    model = model_for(cfg, shape)
    seen = []
    result = fit(model, cfg, X, y, X_val, y_val, seed=0, on_epoch=lambda e, r: seen.append((e, dict(r))))
    assert [e for e, _ in seen] == list(range(1, 7)) and [r for _, r in seen] == result.history
    scores = [r["val_accuracy"] for r in result.history]
    assert result.best_score == max(scores) and result.best_epoch == scores.index(max(scores)) + 1
    model.load_state_dict(result.best_state)
    assert evaluate(model, X_val, y_val)[1] == result.best_score


def test_fit_stops_early_when_nothing_improves(digits, compose_cfg_module):
    _, X, y, X_val, y_val, shape = digits
    cfg = compose_cfg_module([*TINY, "trainer.epochs=10", "regularization.early_stopping.patience=2",
                              "optimizer.lr=1e-12"])
    result = fit(model_for(cfg, shape), cfg, X, y, X_val, y_val)
    assert len(result.history) == 3 and result.best_epoch == 1


def test_fit_minimizes_a_loss_metric(digits, compose_cfg_module):
    _, X, y, X_val, y_val, shape = digits
    cfg = compose_cfg_module([*TINY, "trainer.epochs=4", "cv.metric=val_loss"])
    result = fit(model_for(cfg, shape), cfg, X, y, X_val, y_val)
    assert result.best_score == min(r["val_loss"] for r in result.history)


def test_refit_without_validation_runs_every_epoch_and_keeps_the_last_weights(digits):
    cfg, X, y, _, _, shape = digits
    model = model_for(cfg, shape)
    result = fit(model, cfg, X, y, epochs=2)
    assert len(result.history) == 2 and result.best_epoch == 2 and math.isnan(result.best_score)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in result.best_state.items())


def test_same_seed_same_training(digits):
    cfg, X, y, X_val, y_val, shape = digits
    a = fit(model_for(cfg, shape), cfg, X, y, X_val, y_val, epochs=2, seed=1)
    b = fit(model_for(cfg, shape), cfg, X, y, X_val, y_val, epochs=2, seed=1)
    assert a.history == b.history


def test_a_diverging_loss_fails_with_the_learning_rate(digits, compose_cfg_module):
    _, X, y, X_val, y_val, shape = digits
    cfg = compose_cfg_module([*TINY, "optimizer=sgd", "optimizer.lr=1e12"])
    with pytest.raises(NonFiniteLossError, match="optimizer.lr"):
        fit(model_for(cfg, shape), cfg, X, y, X_val, y_val)


def test_evaluate_scores_loss_and_accuracy():
    logits = torch.tensor([[2.0, 0.0], [0.0, 3.0], [1.0, 0.0]])
    model = torch.nn.Identity()
    loss, acc = evaluate(model, logits, torch.tensor([0, 1, 1]))
    assert acc == pytest.approx(2 / 3)
    assert loss == pytest.approx(float(torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1, 1]))))
