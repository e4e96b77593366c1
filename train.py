"""Entry point: ``python train.py [overrides]`` runs one trial; ``python train.py -m`` runs a sweep."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from pipeline.cli import (
    absolute_pythonpath,
    absolute_searchpath,
    check_composes,
    check_overrides,
    exit_now,
    ignore_schema_match_warning,
    register_resolvers,
)
from pipeline.errors import ConfigError, DataError, TrackingError

log = logging.getLogger("pipeline")
ignore_schema_match_warning()
register_resolvers()


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float | dict:
    """Run one trial and return its cross-validated objective to Hydra's sweeper."""
    from pipeline import runtime
    from pipeline.tracking.store import MLFLOW_DEFAULTS
    from pipeline.trial import run_trial  # torch and the rest: in the trial's process, not the sweeper's

    runtime.start(MLFLOW_DEFAULTS)  # this process's object (a worker runs many trials), MLflow's environment

    hc = HydraConfig.get()
    multirun = hc.mode is not None and hc.mode.name == "MULTIRUN"
    job = {"name": hc.job.name, "num": hc.job.get("num", 0)}
    if hc.searchpath:  # your config folders (hydra.searchpath): a reproduction composes with them too
        job["searchpath"] = json.dumps(absolute_searchpath(hc.searchpath, hc.runtime.cwd))
    if os.environ.get("PYTHONPATH"):  # where your plug-in's modules come from: a reproduction imports them too
        job["pythonpath"] = absolute_pythonpath(os.environ["PYTHONPATH"], hc.runtime.cwd)
    if multirun:  # lets trials of Hydra's basic sweeper find their common parent run
        job["sweep_dir"] = hc.sweep.dir
    try:
        return run_trial(cfg, list(hc.overrides.task), job).for_sweeper()
    except (ConfigError, DataError, TrackingError) as e:
        if multirun:
            raise  # the sweeper records the failed trial and goes on
        log.error("%s", e)
        sys.exit(2)


if __name__ == "__main__":
    check_overrides(sys.argv[1:], Path(__file__).parent / "conf")
    check_composes(sys.argv[1:], Path(__file__).parent / "conf")
    main()
    exit_now(0)  # no teardown of torch and MLflow: seconds after the last line
