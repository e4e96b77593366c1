"""Register a sweep's best trial's refit model in the MLflow Model Registry; move the alias only for a better model.

Every FINISHED sweep registers its best as a new version of the registered model. The alias
(``@champion``) moves to it only when it beats the version holding the alias on the same objective
(key, metric, direction) and the same data (entry and parameters): both are read from the versions'
tags (``pipeline.tracking.names``), so the comparison needs nothing but the registry. A sweep that was
interrupted, failed, or is still running registers nothing (``SweepNotFinished``). Loading it back::

    mlflow.pyfunc.load_model("models:/NAME@champion")   # raw [0, 1] pixels, (N, C, H, W) or flat (N, C*H*W)
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass
from typing import Any

from omegaconf import OmegaConf

from pipeline import objective
from pipeline.cli import one_line_errors
from pipeline.objective import OBJECTIVE_KEY, OBJECTIVE_STD_KEY, is_better
from pipeline.results.insights.history import SweepHistory, TrialRow, load_history, selection_gap
from pipeline.tracking import names, runs
from pipeline.tracking.names import TrialState
from pipeline.tracking.store import get_client
from pipeline.tracking.tracker import Tracker, mlflow_fluent

log = logging.getLogger(__name__)
DEFAULT_ALIAS = "champion"
NOT_DATA = ("_target_", "download")  # data config keys that say how to fetch the data, not which data it is
EXIT_NOT_FINISHED = 3  # ``python -m pipeline.registry``: the sweep did not finish; nothing registered


class SweepNotFinished(RuntimeError):
    """The sweep was interrupted, failed, is still running, or left a launched trial without an end."""


@dataclass(frozen=True)
class Standing:
    """A version as the alias policy sees it: what it was judged on (objective, direction, data) and its value."""

    version: str
    key: str = ""
    metric: str = ""
    direction: str = ""
    data: str = ""
    value: float | None = None

    @classmethod
    def of(cls, version: str, tags: dict[str, str]) -> Standing:
        """Read back from a version's tags (missing ones empty: a version registered before they were recorded)."""
        try:
            value: float | None = float(tags[names.OBJECTIVE_VALUE_TAG])
        except (KeyError, ValueError):
            value = None
        data = f"{tags.get(names.DATA_TARGET_TAG, '')} {tags.get(names.DATA_PARAMS_TAG, '')}".strip()
        return cls(str(version), tags.get(names.OBJECTIVE_NAME_TAG, ""), tags.get(names.OBJECTIVE_METRIC_TAG, ""),
                   tags.get(names.OBJECTIVE_DIRECTION_TAG, ""), data, value)

    @property
    def judged_on(self) -> str:
        return f"{self.key} of {self.metric or 'an unnamed metric'} ({self.direction}) on {self.data}"

    @property
    def recorded(self) -> bool:
        return bool(self.key and self.direction and self.data) and self.value is not None


def decide(new: Standing, holder: Standing | None, alias: str) -> tuple[bool, str]:
    """Whether ``new`` takes ``alias`` from ``holder`` (None: nobody holds it), and the one line that says so.

    It takes it when nobody holds it, or when it was judged on the same objective, direction and data
    and is strictly better (``pipeline.objective.is_better``); a tie keeps the holder.
    """
    head = f"Model registry: version {new.version} ({new.key} {new.value:.4f})"
    if holder is None:
        return True, f"{head} takes @{alias} (no version held it)"
    if not holder.recorded:
        return False, (f"{head} does not take @{alias}: its holder, version {holder.version}, does not record the "
                       "objective, direction and data it was judged on; move the alias by hand if it should")
    if (new.key, new.metric, new.direction, new.data) != (holder.key, holder.metric, holder.direction, holder.data):
        return False, (f"{head} does not take @{alias} from version {holder.version}: judged on {new.judged_on}, "
                       f"version {holder.version} on {holder.judged_on}")
    delta = f"{new.value - holder.value:+.4f}"
    if is_better(new.value, holder.value, new.direction):
        return True, f"{head} takes @{alias} from version {holder.version} ({holder.value:.4f}, {delta})"
    return False, (f"Model registry: version {holder.version} ({holder.key} {holder.value:.4f}) stays @{alias} "
                   f"over version {new.version} ({new.value:.4f}, {delta})")


def register_best(uri: str, parent_run_id: str, name: str, alias: str = DEFAULT_ALIAS) -> str | None:
    """Register the best complete trial's model as a new version of ``name``; give it ``alias`` if it earns it.

    The model is logged from the trial's refit checkpoint first if the trial did not log one
    (``tracking.log_model=auto`` in a sweep). Returns the version, or None (with a logged reason) when
    there is nothing to register: no complete trial, or a best trial without a refit model. Raises
    ``SweepNotFinished`` when the sweep did not finish. The parent run is tagged ``registered_model.*``.
    """
    if not name or not alias:
        raise ValueError(f"a registered model needs a name and an alias, got {name=} {alias=}")
    client = get_client(uri)
    history = load_history(uri, parent_run_id, top_k=0)
    parent_tags = client.get_run(parent_run_id).data.tags
    unfinished = not_finished(history)
    if unfinished:
        raise SweepNotFinished(f"Model registry: sweep {parent_run_id} {unfinished}: nothing registered, "
                               f"@{alias} not moved")
    best = history.best
    if best is None:
        log.info("Model registry: sweep %s has no complete trial; nothing registered", parent_run_id)
        return None
    from pipeline.results.best_model import ensure_logged_model, trial_config  # torch: once there is a best trial

    model_id = ensure_logged_model(client, uri, history.experiment_id, best.run_id)
    if model_id is None:
        log.info("Model registry: the best trial, %s (run %s), has no model (cv.refit=false, "
                 "tracking.log_checkpoints=false or tracking.log_model=false); nothing registered",
                 names.trial_run_name(best.number), best.run_id)
        return None
    _ensure_registered_model(client, name)
    key = judged_key(history, parent_tags)
    if history.multi:  # the front's other trials first, for the record; only the selected one may take the alias
        for row in history.front():
            if row.number != best.number:
                _register_member(client, uri, history, row, key, name)
    tags = version_tags(history, best, key, trial_config(client, best.run_id))
    with mlflow_fluent(uri, history.experiment_id):  # MLflow resolves models:/ through the process's store
        version = str(client.create_model_version(name, source=f"models:/{model_id}", run_id=best.run_id, tags=tags,
                                                  description=description(history, best), model_id=model_id).version)
    log.info("Model registry: %s of sweep %s registered as %s version %s (models:/%s/%s)",
             names.trial_run_name(best.number), parent_run_id, name, version, name, version)
    takes, line = decide(Standing.of(version, tags), _holder(client, name, alias), alias)
    if takes:
        client.set_registered_model_alias(name, alias, version)
    Tracker(client, parent_run_id, uri).set_tags({
        names.REGISTERED_NAME_TAG: name, names.REGISTERED_VERSION_TAG: version, names.REGISTERED_DECISION_TAG: line,
        **({names.REGISTERED_ALIAS_TAG: alias} if takes else {})})
    log.info("%s", line)
    return version


def not_finished(history: SweepHistory) -> str | None:
    """Why the sweep may not register (``ended KILLED``, ...), or None when it FINISHED with every launched
    trial ended (complete, pruned or failed; a trial run again after a resume counts by its new run)."""
    state = TrialState.of_status(history.status)
    if state != TrialState.COMPLETE:
        return "is still running" if state == TrialState.RUNNING else f"ended {history.status}"
    if history.open_trials:
        return f"is marked FINISHED but its trials {history.open_trials} never ended"
    return None


def judged_key(history: SweepHistory, parent_tags: dict[str, str]) -> str:
    """The run metric a version is judged on: the objective's, or with several, the selection rule's value's."""
    if history.multi:
        return objective.run_key(history.selection.name, history.metric is not None)
    return runs.objective_key(parent_tags)


def version_tags(history: SweepHistory, best: TrialRow, key: str, cfg: Any | None) -> dict[str, str]:
    """What the version was judged on (objective, direction, data) and its scores and provenance; with several
    objectives, the selection rule's value and direction, and every objective's value."""
    value = history.selected_value(best)
    direction = history.selection.direction if history.multi else history.direction
    tags = {names.SWEEP_PARENT_TAG: history.parent_run_id, names.TRIAL_NUMBER_TAG: str(best.number),
            names.OBJECTIVE_METRIC_TAG: str(history.metric or ""), names.OBJECTIVE_NAME_TAG: key,
            names.OBJECTIVE_DIRECTION_TAG: direction, names.OBJECTIVE_VALUE_TAG: repr(value),
            OBJECTIVE_KEY: repr(best.value), **{k: repr(v) for k, v in sorted(best.tests.items())},
            **data_identity(cfg)}
    if history.multi and best.values is not None:
        tags[names.OBJECTIVE_VALUES_TAG] = json.dumps(dict(zip(history.goals.labels, best.values)))
        tags[names.FRONT_TAG] = "true"
    if best.cv_std is not None:
        tags[OBJECTIVE_STD_KEY] = repr(best.cv_std)
    gap = selection_gap(history)
    if gap is not None:
        tags[names.SELECTION_GAP_TAG] = repr(gap.gap)
    return tags


def _register_member(client: Any, uri: str, history: SweepHistory, row: TrialRow, key: str, name: str) -> None:
    """A front trial besides the selected one, registered as a version tagged with its objectives (its model logged
    from its refit checkpoint first); one without a model is skipped, said in one line."""
    from pipeline.results.best_model import ensure_logged_model, trial_config

    model_id = ensure_logged_model(client, uri, history.experiment_id, row.run_id)
    if model_id is None:
        log.info("Model registry: front trial %s has no model; not registered", names.trial_run_name(row.number))
        return
    tags = version_tags(history, row, key, trial_config(client, row.run_id))
    with mlflow_fluent(uri, history.experiment_id):
        version = client.create_model_version(name, source=f"models:/{model_id}", run_id=row.run_id, tags=tags,
                                              description=description(history, row), model_id=model_id).version
    log.info("Model registry: front %s registered as %s version %s", names.trial_run_name(row.number), name, version)


def data_identity(cfg: Any | None) -> dict[str, str]:
    """The data a trial was judged on: its data entry's ``_target_`` and parameters (sorted JSON), from its
    resolved config; empty when the trial logged no config (then no version can take an alias from it)."""
    data = None if cfg is None else cfg.get("data")
    if data is None:
        return {}
    params = OmegaConf.to_container(data, resolve=False) if OmegaConf.is_config(data) else dict(data)
    return {names.DATA_TARGET_TAG: str(params.get("_target_", "")),
            names.DATA_PARAMS_TAG: json.dumps({k: v for k, v in params.items() if k not in NOT_DATA}, sort_keys=True,
                                           default=str)}


def description(history: SweepHistory, best: TrialRow) -> str:
    test = ", ".join(f"{k.removeprefix('test_')} {v:.4f}" for k, v in sorted(best.tests.items())) or "not measured"
    if history.multi and best.values is not None:
        shown = ", ".join(f"{n} {v:.4g}" for n, v in zip(history.goals.labels, best.values))
        role = "Selected" if history.best is not None and best.number == history.best.number else "Front member"
        return (f"{role} ({history.selection}) of the Pareto front of {history.strategy} sweep "
                f"{history.parent_run_id} (trial {best.number}, run {best.run_id}): {shown}; held-out test {test}. "
                f"Parameters: {json.dumps(best.params)}")
    return (f"Best of {history.strategy} sweep {history.parent_run_id} (trial {best.number}, run {best.run_id}): "
            f"{history.label} {best.value:.4f}; held-out test {test}. Parameters: {json.dumps(best.params)}")


def _holder(client: Any, name: str, alias: str) -> Standing | None:
    """The version holding ``alias``, or None when no version does."""
    from mlflow.exceptions import MlflowException

    try:
        mv = client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None
    return Standing.of(str(mv.version), dict(mv.tags))


def _ensure_registered_model(client: Any, name: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client.create_registered_model(name,
                                       description="Best models of hyperparameter sweeps (pipeline.results.registry)")
    except MlflowException as e:
        if e.error_code not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
            raise


@one_line_errors
def main(argv: list[str] | None = None) -> int:
    """``python -m pipeline.registry PARENT_RUN_ID``: log the best trial's model and register it.

    Exit status: 0 registered (whether or not it took the alias) or nothing to register; 3 the sweep
    did not finish (interrupted, failed, running): nothing registered, one line on stderr; 2 bad arguments.
    """
    import argparse

    from pipeline import runtime
    from pipeline.results.best_model import log_best_model
    from pipeline.tracking.store import MLFLOW_DEFAULTS, existing_store, resolve_tracking_uri

    parser = argparse.ArgumentParser(prog="python -m pipeline.registry", description=main.__doc__)
    parser.add_argument("parent_run_id", nargs="?", help="the sweep's parent run (with --wait: read from stdin)")
    parser.add_argument("--tracking-uri", default=None, help="default: MLFLOW_TRACKING_URI or the project store")
    parser.add_argument("--name", default=None, help="registered model name (default: the experiment's name)")
    parser.add_argument("--alias", default=DEFAULT_ALIAS,
                        help=f"alias the version takes if it beats its holder (default {DEFAULT_ALIAS})")
    parser.add_argument("--log-only", action="store_true", help="log the best trial's model, do not register it")
    parser.add_argument("--wait", action="store_true",
                        help="import and open the store first, then read the parent run id from stdin (a sweeper "
                             "starts this ahead of its end); nothing to do on an empty line")
    parser.add_argument("--explain", action="store_true",
                        help="then explain the best trial's model (python -m pipeline.explain) and tag its versions")
    args = parser.parse_args(argv)
    if not args.wait and not args.parent_run_id:
        parser.error("the parent run id is required")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    runtime.start(MLFLOW_DEFAULTS)
    uri = existing_store(resolve_tracking_uri(args.tracking_uri))
    if args.wait:
        get_client(uri)
        import mlflow.pytorch  # noqa: F401 - what logging the model imports, ahead of time

        import pipeline.results.best_model  # noqa: F401 - torch and the model's code, likewise
        args.parent_run_id = sys.stdin.readline().strip()
        if not args.parent_run_id:
            return 0
    parent = runs.get_run(get_client(uri), args.parent_run_id, uri)
    if args.log_only:
        model_id = log_best_model(uri, args.parent_run_id)
        log.info("Best model: %s", model_id or "none (no refit checkpoint)")
    else:
        name = args.name or get_client(uri).get_experiment(parent.info.experiment_id).name
        try:
            register_best(uri, args.parent_run_id, name, args.alias)
        except SweepNotFinished as e:
            log.warning("%s", e)
            return EXIT_NOT_FINISHED
    if args.explain:
        _explain(uri, args.parent_run_id)
    return 0


def _explain(uri: str, parent_run_id: str) -> None:
    """Explain the best trial's model after its registration; a failure is one line, never the registry's."""
    from pipeline.explain.build import explain_best

    try:
        explain_best(uri, parent_run_id)
    except Exception as e:  # noqa: BLE001 - the model is registered; its explanation is extra
        log.warning("Could not explain the best model: %s: %s", type(e).__name__, " ".join(str(e).split())[:300])


if __name__ == "__main__":
    sys.exit(main())
