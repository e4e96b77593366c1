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
    """Options shared by every strategy (see the README's sweeper section)."""

    _target_: str = "hydra_plugins.pipeline_sweeper.sweeper.PipelineSweeper"
    strategy: str = "random"
    n_trials: int = 20
    n_jobs: int = 1               # trials run at once: the parallel launcher's workers
    batch_size: int | None = None  # trials per launch; null = n_jobs for bayes, 4 x n_jobs for grid/random
    seed: int = 0
    direction: str = "auto"       # auto (from cv.metric) | minimize | maximize
    max_failure_rate: float = 0.5  # stop once more than this share of n_trials has failed
    resume: str | None = None  # parent run id of an interrupted sweep
    name: str | None = None    # parent run name; default "<strategy>-sweep-<time>"
    params: dict[str, Any] | None = None
    default_params: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_SPACE))
    objective_key: str = "cv_mean"  # the child-run metric a resumed sweep reads back
    # At the end: the report on the parent run, and the best trial's model in the Model Registry.
    report: bool = True
    register_model: bool = True
    model_name: str | None = None   # default: the experiment's name
    model_alias: str = "champion"
    # Pruning, decided inside each trial (see the README); unset options keep conf/config.yaml's pruning.*
    pruner: str = "none"            # none | median | asha
    n_startup_trials: int | None = None
    n_warmup_steps: int | None = None
    min_resource: int | None = None
    reduction_factor: int | None = None
    min_early_stopping_rate: int | None = None
    # Strategy options; each strategy reads its own (STRATEGY_OPTIONS below).
    grid_points: int | None = None  # grid: values per interval; required when the space has intervals
    shuffle: bool = False           # grid: visit the product in a seeded random order
    sampler: str = "sobol"          # random: sobol (scrambled, better coverage) | uniform
    n_initial: int | None = None    # bayes: Sobol points before the GP takes over; default scales with dimension
    acquisition: str = "logei"      # bayes: logei | ucb
    ucb_beta: float = 2.0
    warping: str = "power"


PRUNER_OPTIONS = ("pruner", "n_startup_trials", "n_warmup_steps", "min_resource", "reduction_factor",
                  "min_early_stopping_rate")
STRATEGY_OPTIONS = {"grid": ("grid_points", "shuffle"), "random": ("sampler",),
                    "bayes": ("n_initial", "acquisition", "ucb_beta", "warping")}

# One node per strategy, all of the same shape, so that a preset can switch with `hydra.sweeper.strategy`.
cs = ConfigStore.instance()
for _name in ("grid", "random", "bayes"):
    _node = SweeperConf(strategy=_name, default_params={} if _name == "grid" else dict(DEFAULT_SPACE))
    cs.store(group="hydra/sweeper", name=_name, node=_node, provider="pipeline_sweeper")
