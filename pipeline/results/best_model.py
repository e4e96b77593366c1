"""Log a finished trial's refit model as an MLflow model, rebuilt from its checkpoint and config.

A sweep does not log an MLflow model per trial (``tracking.log_model=auto``): MLflow 3 copies every
metric of the run onto the model, one request per metric (~40 round trips through a server). At the end the best
trial's model is rebuilt from
``checkpoints/refit.pt`` (weights and normalisation) and ``config.yaml``, and logged into its run.
"""

from __future__ import annotations

import logging
import tempfile
from typing import Any

import torch
from omegaconf import OmegaConf

from pipeline.results.served import log_served, served_from_checkpoint
from pipeline.tracking import names
from pipeline.tracking.store import get_client
from pipeline.tracking.tracker import Tracker

log = logging.getLogger(__name__)
MODEL_NAME = "model"  # the name trials log their refit model under


def logged_model_id(client: Any, experiment_id: str, run_id: str) -> str | None:
    """The id of the model named ``model`` that ``run_id`` logged (the latest if it logged several)."""
    found = client.search_logged_models([experiment_id], filter_string=f"source_run_id = '{run_id}'",
                                        max_results=50)
    models = [m for m in found if m.name == MODEL_NAME]
    return max(models, key=lambda m: m.creation_timestamp or 0).model_id if models else None


def ensure_logged_model(client: Any, uri: str, experiment_id: str, run_id: str) -> str | None:
    """The run's logged model id, logging it from the refit checkpoint first if needed.

    None when the run has no refit checkpoint (``cv.refit=false`` or ``tracking.log_checkpoints=false``)
    or its config says ``tracking.log_model=false``.
    """
    model_id = logged_model_id(client, experiment_id, run_id)
    if model_id is not None:
        return model_id
    from mlflow.exceptions import MlflowException

    with tempfile.TemporaryDirectory() as tmp:
        try:
            cfg = OmegaConf.load(client.download_artifacts(run_id, names.CONFIG_ARTIFACT, tmp))
            if cfg.tracking.get("log_model", "auto") is False:
                return None
            ckpt = torch.load(client.download_artifacts(run_id, names.REFIT_CHECKPOINT, tmp), weights_only=True)
        except (MlflowException, OSError) as e:
            log.info("Run %s has no refit checkpoint to build a model from (%s)", run_id, type(e).__name__)
            return None
    if "num_outputs" not in ckpt:
        log.info("Run %s has a refit checkpoint from an older version (no shapes); no model logged", run_id)
        return None
    return log_served(Tracker(client, run_id, uri), served_from_checkpoint(cfg, ckpt), cfg, ckpt["input_shape"])


def trial_config(client: Any, run_id: str) -> Any | None:
    """The resolved config a trial ran with (its ``config.yaml`` artifact), or None when it logged none."""
    from mlflow.exceptions import MlflowException

    with tempfile.TemporaryDirectory() as tmp:
        try:
            return OmegaConf.load(client.download_artifacts(run_id, names.CONFIG_ARTIFACT, tmp))
        except (MlflowException, OSError):
            return None


def log_best_model(uri: str, parent_run_id: str) -> str | None:
    """Make sure the best complete trial of a sweep has its model logged; its id, or None."""
    from pipeline.results.insights.history import load_history

    history = load_history(uri, parent_run_id, top_k=0)
    if history.best is None:
        return None
    return ensure_logged_model(get_client(uri), uri, history.experiment_id, history.best.run_id)
