"""Sweeper configs registered with Hydra's ConfigStore. Imported at Hydra start-up: keep it light.

No `from __future__ import annotations` here: OmegaConf reads these type hints at run time.
"""


from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore

# Used when neither the command line nor hydra.sweeper.params names a parameter:
# `python train.py -m` alone then searches model, optimizer and regularization settings.
DEFAULT_SPACE: dict[str, str] = {
    "optimizer": "choice(adam,adamw,sgd)",
    "optimizer.lr": "tag(log, interval(1e-4, 1e-1))",
    "model.hidden_dim": "tag(log, int(interval(32, 512)))",
    "model.num_layers": "int(interval(1, 3))",
    "regularization.dropout": "interval(0.0, 0.5)",
    "regularization.weight_decay": "tag(log, interval(1e-6, 1e-2))",
}


@dataclass
class SweeperConf:
    """Options shared by every strategy (see the README's sweeper section).

    Unset (null) options take the default of the code that uses them (``_plan`` and the optimizers in
    ``pipeline.search``), so a default is written once, where it is used.
    """

    _target_: str = "hydra_plugins.pipeline_sweeper.sweeper.PipelineSweeper"
    strategy: str = "random"
    n_trials: int | None = None        # default 20
    n_jobs: int | None = None          # trials run at once: the parallel launcher's workers; default 1
    batch_size: int | None = None      # trials per launch; null = n_jobs for bayes, 4 x n_jobs for grid/random
    seed: int | None = None            # default 0
    direction: str | None = None       # null/auto (from cv.metric) | minimize | maximize
    max_failure_rate: float | None = None  # stop once more than this share of n_trials has failed; default 0.5
    resume: str | None = None  # parent run id of an interrupted sweep
    name: str | None = None    # parent run name; default "<strategy>-sweep-<time>"
    params: dict[str, Any] | None = None
    default_params: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_SPACE))
    # At the end: the report on the parent run, and the best trial's model in the Model Registry.
    report: bool = True
    register_model: bool = True
    model_name: str | None = None   # default: the experiment's name
    model_alias: str | None = None  # default: champion
    # Pruning, decided inside each trial (see the README); unset options keep conf/config.yaml's pruning.*
    pruner: str | None = None       # none | median | asha
    n_startup_trials: int | None = None
    n_warmup_steps: int | None = None
    min_resource: int | None = None
    reduction_factor: int | None = None
    min_early_stopping_rate: int | None = None
    # Strategy options; each strategy reads its own (_plan.STRATEGY_OPTIONS), unset ones keep its defaults.
    grid_points: int | None = None  # grid: values per interval; required when the space has intervals
    shuffle: bool | None = None     # grid: visit the product in a seeded random order (default false)
    sampler: str | None = None      # random: sobol (default: scrambled, better coverage) | uniform
    n_initial: int | None = None    # bayes: Sobol points before the GP takes over; default scales with dimension
    acquisition: str | None = None  # bayes: logei (default) | ucb
    ucb_beta: float | None = None   # bayes: UCB's beta (default pipeline.search.acquisition.DEFAULT_UCB_BETA)
    warping: str | None = None      # bayes: power (default) | rank | standardize


# One node per strategy, all of the same shape, so that a preset can switch with `hydra.sweeper.strategy`.
cs = ConfigStore.instance()
for _name in ("grid", "random", "bayes"):
    cs.store(group="hydra/sweeper", name=_name, node=SweeperConf(strategy=_name), provider="pipeline_sweeper")
