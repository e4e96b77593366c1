"""Sweeper configs registered with Hydra's ConfigStore. Imported at Hydra start-up: keep it light.

No `from __future__ import annotations` here: OmegaConf reads these type hints at run time.
"""


from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore

STRATEGY_NODES = ("grid", "random", "bayes", "evolution")
# This plugin's nodes (hydra/sweeper/{grid,random,bayes}) are meant to be extended by an app's file of the same
# name; Hydra warns about it at every composition, in every worker: once in the app's own start is enough.
SCHEMA_MATCH_WARNING = r"\s*'hydra/sweeper/(grid|random|bayes|evolution)' is validated against ConfigStore schema"


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
    # trials per launch, one launch at a time; null = each trial on its own, n_jobs at once
    batch_size: int | None = None
    seed: int | None = None            # default 0
    # null/auto (from cv.metric, or each objective's known direction) | minimize | maximize, or a list of them,
    # one per objective: [maximize,minimize]
    direction: Any = None
    max_failure_rate: float | None = None  # stop once more than this share of n_trials has failed; default 0.5
    resume: str | None = None  # parent run id of an interrupted sweep
    name: str | None = None    # parent run name; default "<MM-DD HH:MM:SS> <strategy> <data>-<model>"
    params: dict[str, Any] | None = None
    # When a searched parameter applies: {key: condition} (README, "Conditional spaces"), e.g.
    # {model.width_3: "model.num_layers>=3"}; a key a config group's option lacks needs none (inferred). A mapping
    # (not null) that the command line adds to: '+hydra.sweeper.conditions={model.width_3:"..."}'
    conditions: dict[str, Any] = field(default_factory=dict)
    # Searched by random and bayes when neither the command line nor `params` names a parameter; an app sets
    # its own (this project: conf/hydra/sweeper/bayes.yaml). Without one, a sweep runs what Hydra's basic
    # sweeper would: the command line's overrides, once.
    default_params: dict[str, Any] | None = None
    # The key of the objective when the task returns a mapping; several: a list ([val_accuracy,n_params]), for a
    # mapping's keys or a sequence's values in order. This project's trials return every metric and cost by name.
    objective: Any = None
    constraints: Any = None  # limits on returned values, met by a feasible trial: ["n_params<=50000"]
    select: str | None = None  # several objectives: which front trial is the best, "val_accuracy where n_params<=5e4"
    # several objectives: the hypervolume's reference point, one value per objective in its own units; default: the
    # worst value of each over the sweep's feasible trials, plus a tenth of its range
    reference_point: Any = None
    tracking_uri: str | None = None    # the store when the task has no tracking.uri; default MLFLOW_TRACKING_URI
    experiment: str | None = None      # default: the task's tracking.experiment, else the Hydra job's name
    # The app's own validation, run on the trial configs at the edges of the space before the first trial:
    # the dotted name of a function taking a trial's config and raising on a bad value (_checks.py).
    check: Any = None  # a dotted name, or a list of them run in turn (a light one first: it answers sooner)
    # At the end: the report on the parent run, and the best trial's model in the Model Registry.
    report: bool = True
    report_every: float | None = None  # seconds; None = 60: the report is also rewritten mid-sweep, first after
    # this long, then at most this often and every 10x its build time (it takes CPU from the trials)
    ui_url: str | None = None  # the MLflow UI the report's run links open; default the server, else 127.0.0.1:5000
    register_model: bool = True
    explain_model: bool = True  # the best trial's model explained at the end (pipeline.explain)
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
    population: int | None = None   # evolution: trials in the population (the last told); default 16
    sample_size: int | None = None  # evolution: members in each tournament; default 4


# One node per strategy, all of the same shape, so that a preset can switch with `hydra.sweeper.strategy`.
# Each is also stored as `<name>_base`, for an app whose conf/hydra/sweeper/<name>.yaml extends the node
# (a file named like a node replaces it, so it cannot list that node in its own defaults).
cs = ConfigStore.instance()
for _name in STRATEGY_NODES:
    for _node_name in (_name, f"{_name}_base"):
        cs.store(group="hydra/sweeper", name=_node_name, node=SweeperConf(strategy=_name), provider="pipeline_sweeper")
