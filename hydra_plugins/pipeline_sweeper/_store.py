"""The sweep's store, decided once here and passed to every trial: the task's ``tracking.uri`` (resolved in the
sweeper's environment), else ``hydra.sweeper.tracking_uri``, else ``MLFLOW_TRACKING_URI``, else the project's
SQLite store; made absolute, and checked before anything runs. Credentials in it never travel in overrides
(they are printed and written to the trials' job folders): they go to the environment the workers inherit."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig, OmegaConf

from pipeline.tracking.names import URI_KEY

log = logging.getLogger(__name__)


def sweep_store(conf: dict[str, Any], config: DictConfig) -> tuple[str, dict[str, str]]:
    """``(uri without credentials, {MLFLOW_TRACKING_USERNAME/PASSWORD: ...})``, the store checked reachable."""
    from pipeline.tracking.store import check_reachable, resolve_tracking_uri, split_credentials

    own = OmegaConf.select(config, URI_KEY, default=None)
    key = URI_KEY if own or not conf.get("tracking_uri") else "hydra.sweeper.tracking_uri"  # who named it, in errors
    uri = resolve_tracking_uri(own or conf.get("tracking_uri"), key)
    check_reachable(uri, key=key)
    return split_credentials(uri)


def export_credentials(credentials: Mapping[str, str]) -> None:
    """This process and the workers it starts authenticate from the environment (MLflow's client reads these
    variables); a value the user set there already wins."""
    if not credentials:
        return
    for key, value in credentials.items():
        os.environ.setdefault(key, value)
    log.info("The tracking URI's credentials go to trials as MLFLOW_TRACKING_USERNAME/PASSWORD in the "
             "environment of this process; workers on other machines need them in theirs")
