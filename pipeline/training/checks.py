"""Checks on a composed configuration, run before any run is created, in two passes:

* ``validate``: every value on its own (types, ranges, choices), with nothing imported but this module's light
  neighbours: it answers within a second, so that a sweep names a bad value before it imports torch;
* ``validate_for_data``: what only the data and the built parts can tell: the metric the task reports, the folds
  its classes allow, the device, and the model, optimizer, scheduler and loss built from their ``_target_`` and
  run once on two real samples.

``check`` runs both (the data loaded once per data config). A sweep runs ``validate`` and then ``check`` on the
edges of its space before its first trial (``hydra.sweeper.check`` in ``conf/hydra/sweeper/*.yaml``); a trial
runs both before its run exists.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from pipeline import objective
from pipeline.errors import ConfigError

if TYPE_CHECKING:
    import torch

    from pipeline.contract import DataSplit

DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("32", "bf16", "16-mixed")  # trainer.precision (pipeline.training.loop maps each to its dtype)
LOG_MODEL = (True, False, "auto")
MODEL_FORMATS = ("pickle", "pt2")
BOOLEANS = ("trainer.normalize", "cv.refit", "tracking.log_checkpoints")


def validate(cfg: Any) -> None:
    """Raise ``ConfigError`` naming the first invalid value and what was expected."""
    for key in ("data", "model", "optimizer"):
        _check(bool(cfg.get(key)) and bool(cfg[key].get("_target_")), f"{key}={_plain(cfg.get(key))}",
               f"a config entry with a _target_ (conf/{key}/*.yaml)")
    if "lr" in cfg.optimizer:
        _check(_num(cfg.optimizer.lr) > 0, f"optimizer.lr={cfg.optimizer.lr}", "a number > 0")
    _validate_trainer(cfg.trainer)
    _check(_as_int(cfg.cv.folds) >= 2, f"cv.folds={cfg.cv.folds}", "an integer >= 2")
    objective.metric(cfg.cv.metric)
    for key in BOOLEANS:
        value = _select(cfg, key)
        _check(isinstance(value, bool), f"{key}={value!r}", "true or false")
    _validate_tracking(cfg.tracking)
    _validate_regularization(cfg.regularization)
    check_pruning(cfg.get("pruning"))


def _validate_trainer(t: Any) -> None:
    _check(_as_int(t.batch_size) >= 1, f"trainer.batch_size={t.batch_size}", "an integer >= 1")
    _check(_as_int(t.epochs) >= 1, f"trainer.epochs={t.epochs}", "an integer >= 1")
    _check(isinstance(t.get("seed", 0), int) and not isinstance(t.get("seed", 0), bool),
           f"trainer.seed={t.get('seed')!r}", "an integer")
    _check(t.device in DEVICES, f"trainer.device={t.device!r}", f"one of {DEVICES}")
    precision = t.get("precision", 32)
    _check(str(precision) in PRECISIONS, f"trainer.precision={precision!r}", f"one of {PRECISIONS}")
    _check(_as_int(t.get("num_workers", 0)) >= 0, f"trainer.num_workers={t.get('num_workers')}", "an integer >= 0")
    _check(_as_int(t.get("num_threads", 0)) >= 0, f"trainer.num_threads={t.get('num_threads')}",
           "an integer >= 0 (0 = torch's default)")


def _validate_tracking(tracking: Any) -> None:
    _check(tracking.log_model in LOG_MODEL, f"tracking.log_model={tracking.log_model!r}", "true, false or auto")
    _check(tracking.model_format in MODEL_FORMATS, f"tracking.model_format={tracking.model_format!r}",
           " or ".join(MODEL_FORMATS))
    experiment = tracking.get("experiment")
    _check(isinstance(experiment, str) and experiment.strip() != "", f"tracking.experiment={experiment!r}",
           "a non-empty name")
    run_name = tracking.get("run_name")
    _check(run_name is None or (isinstance(run_name, (str, int)) and str(run_name).strip() != ""),
           f"tracking.run_name={run_name!r}", "a non-empty name, or null")


def _validate_regularization(reg: Any) -> None:
    _check(0 <= _num(reg.dropout) < 1, f"regularization.dropout={reg.dropout}", "a number in [0, 1)")
    _check(_num(reg.weight_decay) >= 0, f"regularization.weight_decay={reg.weight_decay}", "a number >= 0")
    _check(_num(reg.l1) >= 0, f"regularization.l1={reg.l1}", "a number >= 0")
    _check(0 <= _num(reg.label_smoothing) < 1, f"regularization.label_smoothing={reg.label_smoothing}",
           "a number in [0, 1)")
    stop = reg.early_stopping
    _check(_as_int(stop.patience) >= 0, f"regularization.early_stopping.patience={stop.patience}",
           "an integer >= 0 (0 = off)")
    _check(_num(stop.get("min_delta", 0)) >= 0, f"regularization.early_stopping.min_delta={stop.get('min_delta')}",
           "a number >= 0")


def check_pruning(pruning: Any) -> None:
    """``pruning.*``: a known pruner, and its counts in range (the rules of ``pipeline.pruning.rules``)."""
    from pipeline.pruning.rules import MINIMUMS, PRUNERS

    if pruning is None:
        return
    _check(pruning.get("pruner") in PRUNERS, f"pruning.pruner={pruning.get('pruner')!r}", f"one of {PRUNERS}")
    for key, low in MINIMUMS.items():
        if key in pruning:
            _check(_as_int(pruning[key]) >= low, f"pruning.{key}={pruning[key]!r}", f"an integer >= {low}")
    several = pruning.get("objectives")
    if several is not None:
        known = (*objective.METRICS, *objective.COSTS)
        items = list(several) if not isinstance(several, str) else [several]
        _check(all(isinstance(n, str) and n in known for n in items) and items,
               f"pruning.objectives={items!r}", f"a list of values the trials return, each one of {known}")


# -- the second pass: with the data and the parts built -------------------------------------------------------
def check(cfg: Any) -> None:
    """Everything a trial checks before it trains, without training: ``validate``, then ``validate_for_data`` on
    the data it would load (loaded once per data config)."""
    from omegaconf import OmegaConf

    validate(cfg)
    validate_for_data(cfg, _loaded(OmegaConf.to_yaml(cfg.data, resolve=True)))


@functools.lru_cache(maxsize=4)
def _loaded(data_yaml: str) -> DataSplit:
    from omegaconf import OmegaConf

    from pipeline.data import load_data

    return load_data(OmegaConf.create(data_yaml))


def validate_for_data(cfg: Any, data: DataSplit) -> None:
    """What only the data can tell: ``cv.metric`` is one its task reports, ``cv.folds`` fits its classes, the
    device is there, and the model, optimizer, scheduler and loss take the data's samples (``check_parts``)."""
    from pipeline.training.builders import check_parts

    objective.task_metric(data.task, cfg.cv.metric)
    check_folds(int(cfg.cv.folds), data)
    resolve_device(cfg.trainer.device)
    check_scheduler(cfg)
    check_parts(cfg, data)


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present; asking for CUDA without it is an error."""
    import torch

    _check(name in DEVICES, f"trainer.device={name!r}", f"one of {DEVICES}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("trainer.device='cuda' is invalid: no CUDA device is available here; expected auto or cpu")
    return torch.device(name)


def check_scheduler(cfg: Any) -> None:
    """A plateau scheduler's mode follows ``cv.metric``'s direction (``pipeline.training.builders``); one set
    against it would lower the learning rate while the objective improves."""
    from pipeline.training.builders import is_plateau

    entry = cfg.get("scheduler")
    if not is_plateau(entry) or entry.get("mode") is None:
        return
    expected = objective.metric(cfg.cv.metric).plateau_mode
    _check(entry.mode == expected, f"scheduler.mode={entry.mode!r}",
           f"{expected!r} for cv.metric={cfg.cv.metric} (leave it out: it follows the objective's direction)")


def check_folds(folds: int, data: DataSplit) -> None:
    """Stratified k-fold needs every class in every fold; any k-fold needs ``k`` training samples."""
    import torch

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


def _select(cfg: Any, key: str) -> Any:
    from omegaconf import OmegaConf

    return OmegaConf.select(cfg, key, default=None)


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
