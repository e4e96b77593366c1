"""The one process-wide object: what a process keeps across the trials, sweeps and commands it runs.

Three things must outlive a single call: the SQLite stores this process has already opened (opening one
runs MLflow's migrations under a file lock, once), the watchdog of a sweep's worker (one thread per process,
however many trials the worker runs), and the trial configs a launcher's worker has composed for its sweep
(``hydra_plugins.pipeline_sweeper._compose``: a joblib worker runs many jobs of one sweep). They live in
one ``Process`` object, which an entry point creates with ``start`` (``train.py``'s task, the sweeper, the
``python -m pipeline.*`` commands): that is also where MLflow's environment defaults are set. Code that runs
without an entry point of this project (a library caller, a Hydra worker unpickling its job before the task
starts) gets one made on first use by ``process``, with the environment left as it is.

Importing a module of this project changes no environment variable and no MLflow setting
(``tests/test_runtime.py``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Process:
    """What this process keeps; see the module docstring."""

    opened_stores: set[str] = field(default_factory=set)  # SQLite stores opened (``pipeline.tracking.store``)
    watchdog: Any = None                                   # a worker's ``pipeline.tracking.lease.Watchdog``
    composed: dict[str, Any] = field(default_factory=dict)  # a worker's composed configs, by sweep token


_process: Process | None = None  # the one object; only ``start`` and ``process`` touch it


def start(environment: Mapping[str, str] | None = None) -> Process:
    """Called by an entry point: the process object (made once), and ``environment``'s variables set where the
    user has not set them (``pipeline.tracking.store.MLFLOW_DEFAULTS``)."""
    for key, value in (environment or {}).items():
        os.environ.setdefault(key, value)
    return process()


def process() -> Process:
    """This process's object: the entry point's, or one made now."""
    global _process
    if _process is None:
        _process = Process()
    return _process
