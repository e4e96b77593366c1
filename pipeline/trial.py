"""One trial: validate, load data, cross-validate, refit, and record everything in one MLflow run."""

from __future__ import annotations

import json
import logging
import subprocess
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
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
from pipeline.training import checks, costs
from pipeline.training.batches import Scaling, first_samples, fold_scaling, to_device
from pipeline.training.builders import PREPROCESS_PROBE, build_model, name_of, transform_fitter
from pipeline.training.cv import CVResult, RefitResult, count_params, cross_validate, refit
from pipeline.training.loop import FitResult
from pipeline.training.progress import Progress

log = logging.getLogger("pipeline")

SERVER_WAIT_SECONDS = 120.0  # a trial of a sweep waits this long for a restarting tracking server


@dataclass
class TrialResult:
    """The objective Hydra optimizes, the summary metrics logged, the MLflow run id, and the values a
    multi-objective sweep can optimise (``objective.trial_values``: those measured)."""

    objective: float
    metrics: dict[str, float] = field(default_factory=dict)
    run_id: str = ""
    pruned: bool = False
    values: dict[str, float] = field(default_factory=dict)

    def for_sweeper(self) -> dict[str, Any]:
        """What the task returns to Hydra (the trial protocol, ``pipeline.objective``): the objective, or a pruned
        trial's last intermediate value, with the run that holds it; and one key per value of
        ``objective.trial_values`` it has (``val_accuracy``: its cross-validated mean, ``n_params``, ...; a pruned
        trial has only ``n_params`` and ``flops``)."""
        out: dict[str, Any] = {**self.values, objective.RETURN_VALUE: self.objective,
                               objective.RETURN_RUN_ID: self.run_id}
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
        return _record_pruned(cfg, data, device, tracker, p)


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
    pruner = make_reporter(cfg, tracker, _static_costs(cfg, data, device))
    callbacks: tuple[Any, ...] = (CurveLogger(tracker), progress) + ((pruner,) if pruner else ())
    if cfg.tracking.log_checkpoints:
        callbacks += (CheckpointLogger(tracker),)
    costs.reset_peak_memory(device)
    start = time.perf_counter()
    cv = cross_validate(cfg, data, device, callbacks=callbacks)
    fitted = refit(cfg, data, cv.refit_epochs(), device, cv.lr_factors()) if cfg.cv.refit else None
    metrics = summary_metrics(cfg, cv, fitted, time.perf_counter() - start, data.task)
    metrics[names.N_PARAMS] = float(cv.n_params)
    measured = measure_costs(cfg, data, device, fitted, costs.peak_memory_mb(device))
    metrics.update(cost_metrics(measured))
    for epoch, values in enumerate(cv_curves(cv), start=1):
        tracker.log_metrics(values, step=epoch)
    tracker.log_metrics(metrics)  # sent with the final tags by Tracker.finish
    tracker.set_tags(cost_tags(measured))
    _log_refit(cfg, tracker, fitted, log_model)
    return TrialResult(metrics[objective.OBJECTIVE_KEY], metrics, values=returned_values(metrics, data.task))


def _static_costs(cfg: DictConfig, data: DataSplit, device: torch.device) -> dict[str, float] | None:
    """The costs known before training (parameter count, FLOPs), for a pruner comparing several objectives that
    name one; None otherwise (nothing is built)."""
    pruning = cfg.get("pruning")
    wanted = set((pruning.get("objectives") or []) if pruning is not None and pruning.pruner != "none" else [])
    if not wanted & {names.N_PARAMS, names.FLOPS} or not cfg.tracking.get("parent_run_id"):
        return None
    model, scaling = built_model(cfg, data, device)
    measured = costs.measure(model, cost_batch(data, scaling, device), device, latency=False)
    return {names.N_PARAMS: float(count_params(model)), **cost_metrics(measured)}


def _record_pruned(cfg: DictConfig, data: DataSplit, device: torch.device, tracker: Tracker,
                   p: TrialPruned) -> TrialResult:
    """A pruned trial keeps its curves, says so in tags the UI can filter on, and ends FINISHED. It returns what
    is known without a finished model: its parameter count and FLOPs (of a freshly built model of its config)."""
    model, scaling = built_model(cfg, data, device)
    measured = costs.measure(model, cost_batch(data, scaling, device), device, latency=False)
    metrics = {objective.PRUNED_VALUE_KEY: p.value, names.PRUNED_STEP: float(p.step),
               names.N_PARAMS: float(count_params(model)), **cost_metrics(measured)}
    tracker.log_metrics(metrics)
    log.info("PRUNED: %s", p)
    return TrialResult(p.value, metrics, pruned=True, values={**returned_values(metrics, data.task), **p.values})


def _join_basic_sweep(cfg: DictConfig, uri: str, job: dict[str, Any] | None) -> str | None:
    """Under a sweeper that sets no parent run (Hydra's basic one), group trials by their sweep directory."""
    if cfg.tracking.parent_run_id is not None or not job or not job.get("sweep_dir"):
        return None
    parent = basic_sweep_parent(uri, cfg.tracking.experiment, job["sweep_dir"], "python train.py -m")
    cfg.tracking.parent_run_id, cfg.tracking.trial_number = parent, int(job.get("num", 0))
    return parent


def summary_metrics(cfg: DictConfig, cv: CVResult, fitted: RefitResult | None, seconds: float,
                    task: str) -> dict[str, float]:
    """Cross-validated mean/std of every metric of ``task`` (``cv_metric_summary``; ``cv.metric``'s is the
    objective), per-fold scores and best epochs, test scores."""
    metric = objective.metric(cfg.cv.metric)
    m: dict[str, float] = {**cv_metric_summary(cv, task), objective.OBJECTIVE_KEY: cv.mean,
                           objective.OBJECTIVE_STD_KEY: cv.std,
                           metric.cv_mean_key: cv.mean, metric.cv_std_key: cv.std, names.TRAIN_SECONDS: seconds,
                           names.BEST_EPOCH_MEDIAN: float(cv.refit_epochs())}
    for k, fold in enumerate(cv.folds):
        m[names.fold_metric(k, names.FOLD_SCORE)] = fold.best_score
        m[names.fold_metric(k, names.FOLD_BEST_EPOCH)] = float(fold.best_epoch)
    if fitted is not None:
        m.update(fitted.test)
        m[names.REFIT_EPOCHS] = float(fitted.epochs)
    return m


def cv_metric_summary(cv: CVResult, task: str) -> dict[str, float]:
    """Each metric of ``task`` (``objective.TASKS``) at each fold's best epoch (the one ``cv.metric`` chose):
    its mean and (population) standard deviation over folds, as ``cv.mean``/``cv.std`` are for ``cv.metric``."""
    out: dict[str, float] = {}
    for name in objective.TASKS[task]:
        values = [_at_best_epoch(fold, name) for fold in cv.folds]
        metric = objective.metric(name)
        out[metric.cv_mean_key], out[metric.cv_std_key] = float(np.mean(values)), float(np.std(values))
    return out


def _at_best_epoch(fold: FitResult, name: str) -> float:
    """``name``'s value at ``fold``'s best epoch; NaN when no epoch was best (its score never finite)."""
    return fold.history[fold.best_epoch - 1].get(name, float("nan")) if fold.best_epoch >= 1 else float("nan")


def returned_values(metrics: dict[str, float], task: str) -> dict[str, float]:
    """The values of ``objective.trial_values(task)`` found in a trial's summary ``metrics``: each metric's
    cross-validated mean under the metric's own name (``val_accuracy``), each cost under its name."""
    out = {}
    for name in objective.trial_values(task):
        key = objective.metric(name).cv_mean_key if name in objective.METRICS else name
        if key in metrics:
            out[name] = float(metrics[key])
    return out


# -- costs (pipeline.training.costs): measured after training, logged under the record's names -------------------
def measure_costs(cfg: DictConfig, data: DataSplit, device: torch.device, fitted: RefitResult | None,
                  peak_memory: float) -> costs.Costs:
    """FLOPs and latency of the refit model, fed training samples as the served model feeds it (after its
    scaling and ``preprocess`` transform), and ``peak_memory``. Without a refit (``cv.refit=false``) they are those
    of a freshly built, untrained model of the same config: both depend on the architecture, not the weights."""
    model, scaling = (fitted.model, fitted.scaling) if fitted is not None else built_model(cfg, data, device)
    return costs.measure(model, cost_batch(data, scaling, device), device, peak_memory=peak_memory)


def built_model(cfg: DictConfig, data: DataSplit, device: torch.device) -> tuple[torch.nn.Module, Scaling]:
    """A freshly built model of ``cfg`` and a scaling (with its ``preprocess`` transform) fitted on the first
    ``PREPROCESS_PROBE`` training samples, as the config check does: what measures the costs where no refit model
    is at hand. Built with the trial's seed, outside torch's global random state."""
    probe = np.arange(min(len(data.train), PREPROCESS_PROBE))
    scaling = fold_scaling(data.train, probe, data.task, bool(cfg.trainer.get("normalize", True)),
                           fit_transform=transform_fitter(cfg.get("preprocess")), collate_fn=data.collate)
    args = scaling.model_args(tuple(data.input_shape), data.input_dtype, data.model_args)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(cfg.trainer.seed))
        model = build_model(cfg, args.pop("input_shape"), data.num_outputs, **args)
    return model.to(device), scaling


def cost_batch(data: DataSplit, scaling: Scaling, device: torch.device) -> torch.Tensor:
    """The first ``costs.LATENCY_BATCH`` training samples (fewer if there are fewer), scaled and transformed: the
    inputs a served model passes to its network."""
    x, _ = first_samples(data.train, costs.LATENCY_BATCH, data.collate)
    return scaling.to(device).inputs(to_device(x, device))


def cost_metrics(measured: costs.Costs) -> dict[str, float]:
    """The measured costs under their metric names (those not measured left out)."""
    values = {names.FLOPS: measured.flops, names.LATENCY_MS: measured.latency_ms,
              names.PEAK_MEMORY_MB: measured.peak_memory_mb}
    return {k: float(v) for k, v in values.items() if v is not None}


def cost_tags(measured: costs.Costs) -> dict[str, str]:
    """How they were measured: the latency's device and batch size, what the peak memory is."""
    tags = {}
    if measured.latency_ms is not None:
        tags[names.COST_DEVICE_TAG], tags[names.COST_BATCH_TAG] = measured.device, str(measured.batch_size)
    if measured.peak_memory_mb is not None:
        tags[names.COST_MEMORY_TAG] = measured.memory
    return tags


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
    log.info("costs: %s", "  ".join(f"{k} {m[k]:.6g}" for k in objective.COSTS if k in m))
    if cfg.tracking.parent_run_id is None:  # a sweep says where to look once, at its end
        log.info("MLflow run %s in %s; open the UI with: MLFLOW_TRACKING_URI=%s make ui", result.run_id, redact(uri),
                 redact(uri))
