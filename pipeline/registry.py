"""Register a sweep's best trial's refit model in the MLflow Model Registry, under an alias.

The version carries what a user asks before deploying it: its held-out test scores, its
cross-validated score and the sweep it came from (tags and description). Loading it back::

    mlflow.pytorch.load_model("models:/NAME@champion")   # takes raw [0, 1] pixels (N, C, H, W)
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

from pipeline import run_record as rr
from pipeline.best_model import ensure_logged_model
from pipeline.insights.history import SweepHistory, TrialRow, load_history, selection_gap
from pipeline.objective import OBJECTIVE_KEY, OBJECTIVE_STD_KEY
from pipeline.tracking import Tracker, get_client

log = logging.getLogger(__name__)
DEFAULT_ALIAS = "champion"


def register_best(uri: str, parent_run_id: str, name: str, alias: str = DEFAULT_ALIAS) -> str | None:
    """Register the best complete trial's logged model as a new version of ``name``; point ``alias`` at it.

    The model is logged from the trial's refit checkpoint first if the trial did not log one
    (``tracking.log_model=auto`` in a sweep). Returns the version, or None (with a logged reason) when
    there is nothing to register: no complete trial, or a best trial without a refit model. The parent run is tagged ``registered_model.name``/``.version``/``.alias``.
    """
    if not name or not alias:
        raise ValueError(f"a registered model needs a name and an alias, got {name=} {alias=}")
    history = load_history(uri, parent_run_id, top_k=0)
    best = history.best
    if best is None:
        log.info("Model registry: sweep %s has no complete trial; nothing registered", parent_run_id)
        return None
    client = get_client(uri)
    model_id = ensure_logged_model(client, uri, history.experiment_id, best.run_id)
    if model_id is None:
        log.info("Model registry: best trial %d (run %s) has no model (cv.refit=false, "
                 "tracking.log_checkpoints=false or tracking.log_model=false); nothing registered",
                 best.number, best.run_id)
        return None
    _ensure_registered_model(client, name)
    version = client.create_model_version(name, source=f"models:/{model_id}", run_id=best.run_id,
                                          tags=version_tags(history, best), description=description(history, best),
                                          model_id=model_id)
    client.set_registered_model_alias(name, alias, str(version.version))
    Tracker(client, parent_run_id, uri).set_tags({"registered_model.name": name, "registered_model.alias": alias,
                                                  "registered_model.version": str(version.version)})
    log.info("Model registry: trial %d registered as %s version %s, alias @%s (models:/%s@%s)", best.number, name,
             version.version, alias, name, alias)
    return str(version.version)


def version_tags(history: SweepHistory, best: TrialRow) -> dict[str, str]:
    """Scores and provenance of the version: test/cv scores, objective, sweep, trial, selection gap."""
    tags = {"sweep.parent_run_id": history.parent_run_id, rr.TRIAL_NUMBER_TAG: str(best.number),
            rr.OBJECTIVE_METRIC_TAG: str(history.metric), OBJECTIVE_KEY: repr(best.value),
            **{k: repr(v) for k, v in sorted(best.tests.items())}}
    if best.cv_std is not None:
        tags[OBJECTIVE_STD_KEY] = repr(best.cv_std)
    gap = selection_gap(history)
    if gap is not None:
        tags["selection_gap"] = repr(gap.gap)
    return tags


def description(history: SweepHistory, best: TrialRow) -> str:
    test = ", ".join(f"{k.removeprefix('test_')} {v:.4f}" for k, v in sorted(best.tests.items())) or "not measured"
    return (f"Best of {history.strategy} sweep {history.parent_run_id} (trial {best.number}, run {best.run_id}): "
            f"{history.label} {best.value:.4f}; held-out test {test}. Parameters: {json.dumps(best.params)}")


def _ensure_registered_model(client: Any, name: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client.create_registered_model(name, description="Best models of hyperparameter sweeps (pipeline.registry)")
    except MlflowException as e:
        if e.error_code not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
            raise


def main(argv: list[str] | None = None) -> int:
    """``python -m pipeline.registry PARENT_RUN_ID``: log the best trial's model and register it."""
    import argparse

    from pipeline.best_model import log_best_model
    from pipeline.tracking import resolve_tracking_uri

    parser = argparse.ArgumentParser(prog="python -m pipeline.registry", description=main.__doc__)
    parser.add_argument("parent_run_id", help="the sweep's parent run")
    parser.add_argument("--tracking-uri", default=None, help="default: MLFLOW_TRACKING_URI or the project store")
    parser.add_argument("--name", default=None, help="registered model name (default: the experiment's name)")
    parser.add_argument("--alias", default=DEFAULT_ALIAS, help=f"alias of the new version (default {DEFAULT_ALIAS})")
    parser.add_argument("--log-only", action="store_true", help="log the best trial's model, do not register it")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    uri = resolve_tracking_uri(args.tracking_uri)
    if args.log_only:
        model_id = log_best_model(uri, args.parent_run_id)
        log.info("Best model: %s", model_id or "none (no refit checkpoint)")
        return 0
    name = args.name or get_client(uri).get_experiment(
        get_client(uri).get_run(args.parent_run_id).info.experiment_id).name
    register_best(uri, args.parent_run_id, name, args.alias)
    return 0


if __name__ == "__main__":
    sys.exit(main())
