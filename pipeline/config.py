"""Checks on a composed configuration, run before any data is loaded or any run is created."""

from __future__ import annotations

from typing import Any

from pipeline import objective
from pipeline.errors import ConfigError
from pipeline.models import ACTIVATIONS, MODELS
from pipeline.optim import OPTIMIZERS, SCHEDULERS

DEVICES = ("auto", "cpu", "cuda")


def validate(cfg: Any) -> None:
    """Raise ``ConfigError`` naming the first invalid value and what was expected."""
    _check(cfg.optimizer.name in OPTIMIZERS, f"optimizer.name={cfg.optimizer.name!r}", f"one of {OPTIMIZERS}")
    _check(cfg.model.name in MODELS, f"model.name={cfg.model.name!r}", f"one of {MODELS}")
    _check(cfg.model.get("activation", "relu") in ACTIVATIONS, f"model.activation={cfg.model.get('activation')!r}",
           f"one of {sorted(ACTIVATIONS)}")
    _check(_num(cfg.optimizer.lr) > 0, f"optimizer.lr={cfg.optimizer.lr}", "a number > 0")
    _check(cfg.optimizer.scheduler in SCHEDULERS, f"optimizer.scheduler={cfg.optimizer.scheduler!r}",
           f"one of {SCHEDULERS}")
    _check(_as_int(cfg.trainer.batch_size) >= 1, f"trainer.batch_size={cfg.trainer.batch_size}", "an integer >= 1")
    _check(_as_int(cfg.trainer.epochs) >= 1, f"trainer.epochs={cfg.trainer.epochs}", "an integer >= 1")
    _check(cfg.trainer.device in DEVICES, f"trainer.device={cfg.trainer.device!r}", f"one of {DEVICES}")
    _check(_as_int(cfg.cv.folds) >= 2, f"cv.folds={cfg.cv.folds}", "an integer >= 2")
    _check(cfg.tracking.log_model in (True, False, "auto"), f"tracking.log_model={cfg.tracking.log_model!r}",
           "true, false or auto")
    _check(cfg.tracking.model_format in ("pickle", "pt2"), f"tracking.model_format={cfg.tracking.model_format!r}",
           "pickle or pt2")
    objective.metric(cfg.cv.metric)
    reg = cfg.regularization
    _check(0 <= _num(reg.dropout) < 1, f"regularization.dropout={reg.dropout}", "a number in [0, 1)")
    _check(_num(reg.weight_decay) >= 0, f"regularization.weight_decay={reg.weight_decay}", "a number >= 0")
    _check(_num(reg.l1) >= 0, f"regularization.l1={reg.l1}", "a number >= 0")
    _check(0 <= _num(reg.label_smoothing) < 1, f"regularization.label_smoothing={reg.label_smoothing}",
           "a number in [0, 1)")
    _check(_as_int(reg.early_stopping.patience) >= 0, f"regularization.early_stopping.patience="
           f"{reg.early_stopping.patience}", "an integer >= 0 (0 = off)")


def validate_folds(folds: int, min_class_count: int) -> None:
    """Stratified k-fold needs every class in every fold."""
    if folds > min_class_count:
        raise ConfigError(f"cv.folds={folds} is larger than the smallest class of the training data "
                          f"({min_class_count} samples); expected 2 <= cv.folds <= {min_class_count}")


def _check(ok: bool, what: str, expected: str) -> None:
    if not ok:
        raise ConfigError(f"{what} is invalid: expected {expected}")


def _num(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _as_int(value: Any) -> int | float:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else float("nan")
