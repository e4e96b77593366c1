"""The thin Hydra ``Sweeper``: heavy imports happen in ``_impl`` when a sweep is actually made."""

from __future__ import annotations

from typing import Any

from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


class PipelineSweeper(Sweeper):
    """Grid, random and Bayesian sweeps through any Hydra launcher, recorded as one MLflow parent run."""

    def __init__(self, **conf: Any) -> None:
        from hydra_plugins.pipeline_sweeper._impl import SweeperImpl

        self.impl = SweeperImpl(conf)

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.impl.setup(hydra_context=hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments: list[str]) -> Any:
        return self.impl.sweep(arguments)
