"""One trial: validate, load data, cross-validate, refit, and record everything in one MLflow run."""

from __future__ import annotations

import json
import logging
import subprocess
import time
from dataclasses import dataclass, field
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from pipeline import objective
from pipeline.cli import rerun_command
from pipeline.contract import DataSplit
from pipeline.data import load_data
from pipeline.pruning.reporter import TrialPruned, make_reporter
from pipeline.results.served import log_served, refit_checkpoint, served_from_fitted
from pipeline.tracking import lease, names
from pipeline.tracking.callbacks import CheckpointLogger, CurveLogger
from pipeline.tracking.names import TrialState
from pipeline.tracking.store import PROJECT_ROOT, check_reachable, redact, resolve_tracking_uri
from pipeline.tracking.sweep_run import basic_sweep_parent, summarise_basic_parent
from pipeline.tracking.tracker import Tracker, flatten
from pipeline.training import checks
from pipeline.training.builders import name_of
from pipeline.training.cv import CVResult, RefitResult, cross_validate, refit
from pipeline.training.progress import Progress

log = logging.getLogger("pipeline")

SERVER_WAIT_SECONDS = 120.0  # a trial of a sweep waits this long for a restarting tracking server


@dataclass
class TrialResult:
    """The objective Hydra optimizes, the summary metrics logged, and the MLflow run id."""

    objective: float
    metrics: dict[str, float] = field(default_factory=dict)
    run_id: str = ""
    pruned: bool = False

    def for_sweeper(self) -> dict[str, Any]:
        """What the task returns to Hydra (the trial protocol, ``pipeline.objective``): the objective, or a pruned
        trial's last intermediate value, with the run that holds it."""
        out: dict[str, Any] = {objective.RETURN_VALUE: self.objective, objective.RETURN_RUN_ID: self.run_id}
        return {objective.RETURN_PRUNED: True, **out} if self.pruned else out


def run_trial(cfg: DictConfig, overrides: list[str] | None = None, job: dict[str, Any] | None = None) -> TrialResult:
    """Run one trial of ``cfg``; ``overrides`` and ``job`` (Hydra job name/num) are recorded as tags.

    Every value that can be checked without training is checked before the run exists (``checks``): a bad one
    raises ``ConfigError`` and writes nothing, except in a sweep, whose record keeps a FAILED run for every
    trial. An exception that ends a trial after its run exists carries the run's id (``objective.RETURN_RUN_ID``).
    """
    watchdog = lease.watch_sweeper()  # in a sweep's worker: stop when the sweeper is gone, never start a trial for it
    try:
        checks.validate(cfg)
        data = load_data(cfg.data)
        checks.validate_for_data(cfg, data)
    except Exception as e:
        _record_early_failure(cfg, overrides or [], e)
        raise
    uri = resolve_tracking_uri(cfg.tracking.uri)
    check_reachable(uri, wait=SERVER_WAIT_SECONDS if cfg.tracking.parent_run_id else 0.0)
    device = checks.resolve_device(cfg.trainer.device)
    if int(cfg.trainer.num_threads) > 0:
        torch.set_num_threads(int(cfg.trainer.num_threads))

    overrides = list(overrides or [])
    log_model = log_model_now(cfg)  # before a basic sweep's parent is joined: it has no end to log the best at
    basic_parent = _join_basic_sweep(cfg, uri, job)
    name = run_name(cfg, data)
    tracker = Tracker.start(uri, cfg.tracking.experiment, name, _tags(cfg, data, overrides, job),
                            parent_run_id=cfg.tracking.parent_run_id, background=True,
                            run_id=cfg.tracking.get("run_id"))
    watchdog.on_gone(lambda: tracker.client.set_terminated(tracker.run_id, TrialState.INTERRUPTED.run_status))
    try:
        tracker.log_params(flatten(OmegaConf.to_container(cfg, resolve=True)))
        tracker.log_files({names.CONFIG_ARTIFACT: OmegaConf.to_yaml(cfg, resolve=True),
                           names.OVERRIDES_ARTIFACT: OmegaConf.to_yaml(OmegaConf.create(overrides))})
        result = _train_or_prune(cfg, data, device, tracker, log_model)
        if not tracker.finish(tags=_end_tags(cfg, name, result), unless_ended=cfg.tracking.parent_run_id is not None):
            log.warning("The sweep ended this trial's run while it ran (it was stopped): its result is not recorded")
    except BaseException as e:  # KeyboardInterrupt too: the run must not stay RUNNING
        state = TrialState.INTERRUPTED if isinstance(e, KeyboardInterrupt) else TrialState.FAILED
        tracker.fail(e, state, tags={names.RUN_NAME_TAG: names.ended_run_name(name, state)})
        setattr(e, objective.RETURN_RUN_ID, tracker.run_id)  # the sweeper reads it from the failed job
        raise
    finally:
        watchdog.on_gone(None)
    result.run_id = tracker.run_id
    if basic_parent:
        summarise_basic_parent(uri, basic_parent, objective.direction(cfg.cv.metric))
    if not result.pruned:
        _print_summary(cfg, result, uri)
    return result


def _train_or_prune(cfg: DictConfig, data: DataSplit, device: torch.device, tracker: Tracker,
                    log_model: bool) -> TrialResult:
    try:
        return _train_and_log(cfg, data, device, tracker, log_model)
    except TrialPruned as p:
        return _record_pruned(tracker, p)


def _end_tags(cfg: DictConfig, name: str, result: TrialResult) -> dict[str, str]:
    """How the trial ended, in tags the UI can filter on; in a sweep its name carries its value
    (``trial-007 0.9784``)."""
    if result.pruned:
        return {names.TRIAL_STATE_TAG: str(TrialState.PRUNED), names.PRUNED_TAG: "true",
                names.RUN_NAME_TAG: names.ended_run_name(name, TrialState.PRUNED)}
    tags = {names.TRIAL_STATE_TAG: str(TrialState.COMPLETE)}
    if cfg.tracking.trial_number is not None:
        tags[names.RUN_NAME_TAG] = names.ended_run_name(name, TrialState.COMPLETE, result.objective)
    return tags


def _record_early_failure(cfg: DictConfig, overrides: list[str], error: Exception) -> None:
    """A sweep's trial that fails before its run exists (bad value, data missing) still gets a FAILED child run
    with its full error, so the sweep's record has every trial. Never hides ``error``."""
    if cfg.tracking.get("parent_run_id") is None:
        return
    try:
        uri = resolve_tracking_uri(cfg.tracking.uri)
        number = cfg.tracking.trial_number
        name = names.trial_run_name(int(number)) if number is not None else "trial"
        tags = {names.OVERRIDES_TAG: json.dumps(overrides), names.LEASE_TAG: lease.own(),
                **({names.TRIAL_NUMBER_TAG: str(number)} if number is not None else {})}
        tracker = Tracker.start(uri, cfg.tracking.experiment, name, tags, parent_run_id=cfg.tracking.parent_run_id,
                                run_id=cfg.tracking.get("run_id"))
        tracker.fail(error, tags={names.RUN_NAME_TAG: names.ended_run_name(name, TrialState.FAILED)})
        setattr(error, objective.RETURN_RUN_ID, tracker.run_id)
    except Exception as e:  # noqa: BLE001 - the trial's own error is what matters
        log.warning("Could not record the failed trial in MLflow: %s", e)


def _train_and_log(cfg: DictConfig, data: DataSplit, device: torch.device, tracker: Tracker,
                   log_model: bool) -> TrialResult:
    progress = Progress(int(cfg.cv.folds), int(cfg.trainer.epochs), cfg.cv.metric)
    pruner = make_reporter(cfg, tracker)
    callbacks: tuple[Any, ...] = (CurveLogger(tracker), progress) + ((pruner,) if pruner else ())
    if cfg.tracking.log_checkpoints:
        callbacks += (CheckpointLogger(tracker),)
    start = time.perf_counter()
    cv = cross_validate(cfg, data, device, callbacks=callbacks)
    fitted = refit(cfg, data, cv.refit_epochs(), device, cv.lr_factors()) if cfg.cv.refit else None
    metrics = summary_metrics(cfg, cv, fitted, time.perf_counter() - start)
    metrics[names.N_PARAMS] = float(cv.n_params)
    for epoch, values in enumerate(cv_curves(cv), start=1):
        tracker.log_metrics(values, step=epoch)
    tracker.log_metrics(metrics)  # sent with the final tags by Tracker.finish
    _log_refit(cfg, tracker, fitted, log_model)
    return TrialResult(metrics[objective.OBJECTIVE_KEY], metrics)


def _record_pruned(tracker: Tracker, p: TrialPruned) -> TrialResult:
    """A pruned trial keeps its curves, says so in tags the UI can filter on, and ends FINISHED."""
    metrics = {objective.PRUNED_VALUE_KEY: p.value, names.PRUNED_STEP: float(p.step)}
    tracker.log_metrics(metrics)
    log.info("PRUNED: %s", p)
    return TrialResult(p.value, metrics, pruned=True)


def _join_basic_sweep(cfg: DictConfig, uri: str, job: dict[str, Any] | None) -> str | None:
    """Under a sweeper that sets no parent run (Hydra's basic one), group trials by their sweep directory."""
    if cfg.tracking.parent_run_id is not None or not job or not job.get("sweep_dir"):
        return None
    parent = basic_sweep_parent(uri, cfg.tracking.experiment, job["sweep_dir"], "python train.py -m")
    cfg.tracking.parent_run_id, cfg.tracking.trial_number = parent, int(job.get("num", 0))
    return parent


def summary_metrics(cfg: DictConfig, cv: CVResult, fitted: RefitResult | None, seconds: float) -> dict[str, float]:
    """Cross-validated mean/std of ``cv.metric``, per-fold scores and best epochs, test scores."""
    metric = objective.metric(cfg.cv.metric)
    m: dict[str, float] = {objective.OBJECTIVE_KEY: cv.mean, objective.OBJECTIVE_STD_KEY: cv.std,
                           metric.cv_mean_key: cv.mean, metric.cv_std_key: cv.std, names.TRAIN_SECONDS: seconds,
                           names.BEST_EPOCH_MEDIAN: float(cv.refit_epochs())}
    for k, fold in enumerate(cv.folds):
        m[names.fold_metric(k, names.FOLD_SCORE)] = fold.best_score
        m[names.fold_metric(k, names.FOLD_BEST_EPOCH)] = float(fold.best_epoch)
    if fitted is not None:
        m.update(fitted.test)
        m[names.REFIT_EPOCHS] = float(fitted.epochs)
    return m


def cv_curves(cv: CVResult) -> list[dict[str, float]]:
    """Fold-averaged curves per epoch; a fold that stopped early contributes its last value."""
    length = max(len(f.history) for f in cv.folds)
    curves = []
    for i in range(length):
        records = [f.history[min(i, len(f.history) - 1)] for f in cv.folds]
        curves.append({objective.curve_key(k): sum(r[k] for r in records) / len(records) for k in records[0]})
    return curves


def run_name(cfg: DictConfig, data: DataSplit) -> str:
    """A name a person can read in the run list: ``trial-007`` in a sweep (``<run_name>-007`` with a name given),
    ``digits-mlp`` (or the name given) alone."""
    number = cfg.tracking.trial_number
    if cfg.tracking.run_name:
        given = str(cfg.tracking.run_name)
        return given if number is None else names.trial_run_name(int(number), given)
    if number is not None:
        return names.trial_run_name(int(number))
    return f"{data_name(cfg, data)}-{name_of(cfg.model, names.MODEL_TAG)}"



def data_name(cfg: DictConfig, data: DataSplit) -> str:
    return data.name or name_of(cfg.data, "data")


def reproduce_command(overrides: list[str], job: dict[str, Any] | None = None) -> str:
    """The one-line command that re-runs this trial on its own; for a plug-in (config folders or modules of its
    own), from any folder: ``train.py`` by its path, with the trial's ``hydra.searchpath`` and ``PYTHONPATH``."""
    job = job or {}
    searchpath = json.loads(job.get("searchpath") or "[]")
    pythonpath = job.get("pythonpath")
    script = str(PROJECT_ROOT / "train.py") if searchpath or pythonpath else "train.py"
    return rerun_command(script, names.without_sweeper_keys(overrides), searchpath, str(PROJECT_ROOT), pythonpath)


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(PROJECT_ROOT), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _tags(cfg: DictConfig, data: DataSplit, overrides: list[str], job: dict[str, Any] | None) -> dict[str, str]:
    tags = {names.OVERRIDES_TAG: json.dumps(overrides), names.REPRODUCE_COMMAND_TAG: reproduce_command(overrides, job),
            names.LEASE_TAG: lease.own(), names.OBJECTIVE_METRIC_TAG: cfg.cv.metric,
            names.DATA_TAG: data_name(cfg, data), names.MODEL_TAG: name_of(cfg.model), names.TASK_TAG: data.task,
            names.DATA_LOADING_TAG: "in memory" if data.in_memory else "DataLoader", names.SOURCE_NAME_TAG: "train.py"}
    commit = git_commit()
    if commit:
        tags[names.GIT_COMMIT_TAG] = commit
    reproduces = OmegaConf.select(cfg, names.REPRODUCES_KEY, default=None)
    if reproduces:
        tags[names.REPRODUCES_TAG] = str(reproduces)
    if cfg.tracking.trial_number is not None:
        tags[names.TRIAL_NUMBER_TAG] = str(cfg.tracking.trial_number)
    for key, value in (job or {}).items():
        tags[names.JOB_TAG_PREFIX + key] = str(value)
    return tags


def _log_refit(cfg: DictConfig, tracker: Tracker, fitted: RefitResult | None, log_model: bool) -> None:
    """The refit checkpoint (with what rebuilds the model), and the MLflow model when asked for."""
    if fitted is None:
        return
    if cfg.tracking.log_checkpoints:
        tracker.log_files({names.REFIT_CHECKPOINT: refit_checkpoint(fitted)})
        tracker.set_tags({names.REFIT_CHECKPOINT_TAG: names.REFIT_CHECKPOINT})
    if log_model:
        log_served(tracker, served_from_fitted(fitted), cfg, fitted.input_shape)


def log_model_now(cfg: DictConfig) -> bool:
    """``tracking.log_model``: true, false, or auto (a single run logs it; a sweeper logs only its best, at the end)."""
    value = cfg.tracking.log_model
    if value == "auto":
        return cfg.tracking.parent_run_id is None
    return bool(value)


def _print_summary(cfg: DictConfig, result: TrialResult, uri: str) -> None:
    m = result.metrics
    folds = ", ".join(f"{m[f'fold_{k}/score']:.4f}" for k in range(int(cfg.cv.folds)))
    log.info("folds [%s]  cv %s %.4f +- %.4f", folds, cfg.cv.metric, m[objective.OBJECTIVE_KEY],
             m[objective.OBJECTIVE_STD_KEY])
    tests = "  ".join(f"{k.removeprefix('test_')} {v:.4f}" for k, v in m.items() if k.startswith("test_"))
    if tests:
        log.info("held-out test: %s", tests)
    if cfg.tracking.parent_run_id is None:  # a sweep says where to look once, at its end
        log.info("MLflow run %s in %s; open the UI with: MLFLOW_TRACKING_URI=%s make ui", result.run_id, redact(uri),
                 redact(uri))
