"""Checks on a composed configuration, run before any run is created: on the config alone (``validate``),
then against the loaded data (``validate_for_data``): the metric the task reports, the folds the classes
allow, and a model that takes the data's samples."""

from __future__ import annotations

import functools
from typing import Any

import torch

from pipeline import objective
from pipeline.contract import DataSplit
from pipeline.data import load_data  # at import: a sweep's check process loads it before the configs arrive
from pipeline.errors import ConfigError
from pipeline.training.builders import check_model, is_plateau
from pipeline.training.loop import PRECISIONS

DEVICES = ("auto", "cpu", "cuda")


def validate(cfg: Any) -> None:
    """Raise ``ConfigError`` naming the first invalid value and what was expected."""
    for key in ("data", "model", "optimizer"):
        _check(bool(cfg.get(key)) and bool(cfg[key].get("_target_")), f"{key}={_plain(cfg.get(key))}",
               f"a config entry with a _target_ (conf/{key}/*.yaml)")
    if "lr" in cfg.optimizer:
        _check(_num(cfg.optimizer.lr) > 0, f"optimizer.lr={cfg.optimizer.lr}", "a number > 0")
    _check(_as_int(cfg.trainer.batch_size) >= 1, f"trainer.batch_size={cfg.trainer.batch_size}", "an integer >= 1")
    _check(_as_int(cfg.trainer.epochs) >= 1, f"trainer.epochs={cfg.trainer.epochs}", "an integer >= 1")
    precision = cfg.trainer.get("precision", 32)
    _check(str(precision) in PRECISIONS, f"trainer.precision={precision!r}", f"one of {tuple(PRECISIONS)}")
    _check(_as_int(cfg.trainer.get("num_workers", 0)) >= 0, f"trainer.num_workers={cfg.trainer.get('num_workers')}",
           "an integer >= 0")
    _check(_as_int(cfg.cv.folds) >= 2, f"cv.folds={cfg.cv.folds}", "an integer >= 2")
    objective.metric(cfg.cv.metric)
    _check(cfg.tracking.log_model in (True, False, "auto"), f"tracking.log_model={cfg.tracking.log_model!r}",
           "true, false or auto")
    _check(cfg.tracking.model_format in ("pickle", "pt2"), f"tracking.model_format={cfg.tracking.model_format!r}",
           "pickle or pt2")
    reg = cfg.regularization
    _check(0 <= _num(reg.dropout) < 1, f"regularization.dropout={reg.dropout}", "a number in [0, 1)")
    _check(_num(reg.weight_decay) >= 0, f"regularization.weight_decay={reg.weight_decay}", "a number >= 0")
    _check(_num(reg.l1) >= 0, f"regularization.l1={reg.l1}", "a number >= 0")
    _check(0 <= _num(reg.label_smoothing) < 1, f"regularization.label_smoothing={reg.label_smoothing}",
           "a number in [0, 1)")
    _check(_as_int(reg.early_stopping.patience) >= 0, f"regularization.early_stopping.patience="
           f"{reg.early_stopping.patience}", "an integer >= 0 (0 = off)")
    resolve_device(cfg.trainer.device)
    check_scheduler(cfg)
    check_pruning(cfg.get("pruning"))


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present; asking for CUDA without it is an error."""
    _check(name in DEVICES, f"trainer.device={name!r}", f"one of {DEVICES}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("trainer.device='cuda' but no CUDA device is available; expected auto or cpu")
    return torch.device(name)


def check_scheduler(cfg: Any) -> None:
    """A plateau scheduler's mode follows ``cv.metric``'s direction (``pipeline.training.builders``); one set
    against it would lower the learning rate while the objective improves."""
    entry = cfg.get("scheduler")
    if not is_plateau(entry) or entry.get("mode") is None:
        return
    expected = objective.metric(cfg.cv.metric).plateau_mode
    _check(entry.mode == expected, f"scheduler.mode={entry.mode!r}",
           f"{expected!r} for cv.metric={cfg.cv.metric} (leave it out: it follows the objective's direction)")


def check_pruning(pruning: Any) -> None:
    """``pruning.*``: a known pruner, and its counts in range (the rules of ``pipeline.pruning.rules``)."""
    from pipeline.pruning.rules import PRUNERS

    if pruning is None:
        return
    _check(pruning.get("pruner") in PRUNERS, f"pruning.pruner={pruning.get('pruner')!r}", f"one of {PRUNERS}")
    for key, low in (("n_startup_trials", 0), ("n_warmup_steps", 0), ("min_resource", 1), ("reduction_factor", 2),
                     ("min_early_stopping_rate", 0)):
        if key in pruning:
            _check(_as_int(pruning[key]) >= low, f"pruning.{key}={pruning[key]!r}", f"an integer >= {low}")


def check(cfg: Any) -> None:
    """Everything a trial checks before it trains, without training: ``validate``, then ``validate_for_data`` on
    the data it would load (loaded once per data config). A sweep runs this on the edges of its space before
    its first trial (``hydra.sweeper.check``)."""
    from omegaconf import OmegaConf

    validate(cfg)
    validate_for_data(cfg, _loaded(OmegaConf.to_yaml(cfg.data, resolve=True)))


@functools.lru_cache(maxsize=4)
def _loaded(data_yaml: str) -> DataSplit:
    from omegaconf import OmegaConf

    return load_data(OmegaConf.create(data_yaml))


def validate_for_data(cfg: Any, data: DataSplit) -> None:
    """What only the data can tell: ``cv.metric`` is one its task reports, ``cv.folds`` fits its classes, and
    the model factory takes its samples and gives its number of outputs."""
    objective.task_metric(data.task, cfg.cv.metric)
    check_folds(int(cfg.cv.folds), data)
    check_model(cfg, data.input_shape, data.num_outputs)


def check_folds(folds: int, data: DataSplit) -> None:
    """Stratified k-fold needs every class in every fold; any k-fold needs ``k`` training samples."""
    n = len(data.train)
    if folds > n:
        raise ConfigError(f"cv.folds={folds} is larger than the {n} training samples; expected 2 <= cv.folds <= {n}")
    if data.task == "classification":
        counts = torch.bincount(data.targets, minlength=int(data.num_outputs))
        smallest = int(counts[counts > 0].min())
        if folds > smallest:
            label = int(torch.nonzero(counts == smallest)[0])
            raise ConfigError(f"cv.folds={folds} is larger than the smallest class of the training data (class "
                              f"{label}: {smallest} samples); expected 2 <= cv.folds <= {smallest}, or more samples "
                              "of that class")


def _check(ok: bool, what: str, expected: str) -> None:
    if not ok:
        raise ConfigError(f"{what} is invalid: expected {expected}")


def _plain(node: Any) -> Any:
    from omegaconf import OmegaConf

    return OmegaConf.to_container(node) if OmegaConf.is_config(node) else node


def _num(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _as_int(value: Any) -> int | float:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else float("nan")
