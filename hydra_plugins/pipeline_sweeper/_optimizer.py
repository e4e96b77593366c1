"""The optimizer a plan asks for, and the plan it really runs: a finite space no larger than the budget is run
whole, in the grid's order, and a finite grid ends sooner than a larger budget."""

from __future__ import annotations

import logging
from typing import Any

from hydra_plugins.pipeline_sweeper._plan import SweepPlan
from pipeline import objective
from pipeline.search import make_optimizer

log = logging.getLogger(__name__)


def make_sweep_optimizer(plan: SweepPlan) -> tuple[Any, SweepPlan]:
    """The plan's optimizer, and the plan with ``n_trials`` cut to what the optimizer can propose.

    A finite space no larger than the budget is run whole in the grid's order (Hydra's basic sweeper's),
    whatever the strategy: every point gets evaluated anyway."""
    strategy, options = plan.strategy, plan.optimizer_options()
    if strategy != "grid" and plan.space.dim and plan.space.cardinality() <= plan.n_trials:
        log.info("The space holds %d points, no more than n_trials=%d: every point is run, in grid order",
                 int(plan.space.cardinality()), plan.n_trials)
        strategy, options = "grid", {}
    if strategy == "grid":
        options = {**options, "n_trials": plan.n_trials}
    if strategy == "bayes" and plan.multi and plan.records_itself:
        logs = [objective.log_scaled(name) for name in plan.goals.labels]  # this project's counts (n_params, flops)
        options = {**options, **({"log_objectives": logs} if any(logs) else {})}
    try:
        optimizer = make_optimizer(strategy, plan.space, seed=plan.seed,
                                   direction=plan.goals.directions if plan.multi else plan.direction, **options)
    except ValueError as e:  # an option the user set, named as they set it
        named = str(e).split("=", 1)[0]
        raise ValueError(f"hydra.sweeper.{e}" if named in plan.options else str(e)) from None
    design = getattr(optimizer, "n_initial", None)
    if strategy == "bayes" and design is not None and plan.n_trials <= design and not plan.resume:
        log.warning("hydra.sweeper.n_trials=%d is not above bayes's initial design (n_initial=%d): every trial comes "
                    "from the space-filling design and the Gaussian process is never fitted; raise n_trials above "
                    "%d, or lower hydra.sweeper.n_initial", plan.n_trials, design, design)
    total = getattr(optimizer, "n_total", None)
    if total is None:
        return optimizer, plan
    if optimizer.n_grid > total:
        log.warning("The grid has %d points and n_trials=%d: %d points are left out. The %d run try every value "
                    "of every parameter about equally often; unset hydra.sweeper.n_trials to run the whole "
                    "grid", optimizer.n_grid, total, optimizer.n_grid - total, total)
    return optimizer, plan.replace(n_trials=min(plan.n_trials, total))
