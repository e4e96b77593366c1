"""The run record: what the MLflow runs of a sweep hold, and the one way to read them back.

A sweep is a parent run (tag ``sweep.strategy``) with one child run per trial (``mlflow.parentRunId``,
``trial.number``). This module owns the names of their tags and metrics, the query for a sweep's
children (paged, so sweeps of thousands of trials work), the mapping from a run to a trial state, and
the codec of the ``trial.<k>.params`` tags that the sweeper writes on the parent before each launch.
It imports nothing heavy: the sweeper, the trial, the pruner and the report all read runs through it.

Trial states, from a child run:

* ``complete``: the run ended FINISHED. Its value is the objective metric; a run that ended normally
  without one (a task that returned nothing) is complete without a value: it is never the best and
  never run again.
* ``pruned``: tagged ``trial.pruned=true``; its value is the last intermediate value.
* ``failed``: FAILED (an exception, a non-finite loss).
* ``running``: RUNNING or SCHEDULED. Stale when the sweep that launched it is not running any more:
  a resume ends such a run as KILLED and runs the trial again.
* ``interrupted``: KILLED (Ctrl-C, SIGTERM, a resume ending a stale run).
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from pipeline.objective import OBJECTIVE_KEY, PRUNED_VALUE_KEY

# -- the trial protocol: config keys of a task that records its own run, set by the sweeper per trial --
URI_KEY = "tracking.uri"                    # the store, decided once by the sweeper
PARENT_KEY = "tracking.parent_run_id"       # the sweep's parent run
NUMBER_KEY = "tracking.trial_number"        # the trial's job number
SWEEPER_KEYS = (URI_KEY, PARENT_KEY, NUMBER_KEY)

# -- tags ------------------------------------------------------------------------------------------
PARENT_RUN_TAG = "mlflow.parentRunId"      # on a child: its sweep's parent run
SWEEP_TAG = "sweep.strategy"                # on every sweep's parent run (``basic`` for Hydra's sweeper)
OBJECTIVE_KEY_TAG = "sweep.objective_key"   # on a parent: the child metric holding each trial's value
TRIAL_NUMBER_TAG = "trial.number"           # on a child: its job number in the sweep
TRIAL_STATE_TAG = "trial.state"             # on a child: complete | pruned | failed | killed, once ended
PRUNED_TAG = "trial.pruned"                 # on a child: "true" when the pruner stopped it
ERROR_TAG = "error"                         # on a failed child: the exception, one line
OBJECTIVE_METRIC_TAG = "objective.metric"   # on a child: the cv.metric behind its objective
OVERRIDES_TAG = "hydra.overrides"           # on a child: its Hydra overrides, as JSON
SEARCHPATH_TAG = "hydra.job.searchpath"     # on a child: the config folders it was composed with (JSON)
BEST_RUN_TAG = "best.run_id"                # on a parent: the best complete trial's run
REFIT_CHECKPOINT_TAG = "checkpoint.refit"   # on a child with a refit model: the artifact holding it

# -- tags of a registered model version (pipeline.results.registry): what it was judged on, read back to compare --
SWEEP_PARENT_TAG = "sweep.parent_run_id"    # on a version: the sweep it is the best of
OBJECTIVE_NAME_TAG = "objective.key"        # on a version: the metric holding the objective (cv_mean)
OBJECTIVE_DIRECTION_TAG = "objective.direction"  # on a version: minimize | maximize
OBJECTIVE_VALUE_TAG = "objective.value"     # on a version: its trial's objective value (repr of a float)
DATA_TARGET_TAG = "data.target"             # on a version: the data entry (``data._target_``) it was judged on
DATA_PARAMS_TAG = "data.params"             # on a version: that entry's parameters, as sorted JSON
# on a sweep's parent, once its best is registered
REGISTERED_NAME_TAG = "registered_model.name"
REGISTERED_VERSION_TAG = "registered_model.version"
REGISTERED_ALIAS_TAG = "registered_model.alias"      # set only when the version took the alias
REGISTERED_DECISION_TAG = "registered_model.decision"  # the one line saying which version holds the alias
RUN_NAME_TAG = "mlflow.runName"             # a run's name in the list; a trial's says how it ended
LEASE_TAG = "lease"                         # on a parent (its sweeper) and a child (its worker): host:pid:start

# -- artifacts -------------------------------------------------------------------------------------
REFIT_CHECKPOINT = "checkpoints/refit.pt"   # weights, normalisation and shapes of the refit model
CONFIG_ARTIFACT = "config.yaml"             # the trial's resolved config

# -- metrics ---------------------------------------------------------------------------------------
INTERMEDIATE = "intermediate/objective"     # a trial's intermediate objective, one value per step
RUNG_TAG = "pruning.rung_{}"                # ASHA: the value a trial had when it reached rung k

STATES = ("complete", "pruned", "failed", "interrupted", "running")
ENDED = ("complete", "pruned", "failed")
_LAUNCHED = re.compile(r"trial\.(\d+)\.params")
_RERUN = re.compile(r"trial\.(\d+)\.rerun_as")


def override_key(override: str) -> str:
    """The config key an override sets: ``+tracking.uri=x`` -> ``tracking.uri``."""
    return override.split("=", 1)[0].lstrip("+~")


def without_sweeper_keys(overrides: Iterable[str]) -> list[str]:
    """``overrides`` without those the sweeper sets for each trial (what a user re-runs)."""
    return [o for o in overrides if override_key(o) not in SWEEPER_KEYS]


def child_filter(parent_run_id: str, status: str | None = None) -> str:
    """The ``search_runs`` filter selecting the children of ``parent_run_id`` (with that status)."""
    where = f"tags.`{PARENT_RUN_TAG}` = '{parent_run_id}'"
    return where + (f" and attributes.status = '{status}'" if status else "")


def child_runs(client: Any, experiment_id: str, parent_run_id: str, page_size: int | None = None,
               status: str | None = None) -> list[Any]:
    """Every child run of ``parent_run_id`` (all pages of the search), or those with ``status``."""
    from pipeline.tracking.tracker import SEARCH_PAGE_SIZE, iter_runs

    return iter_runs(client, [experiment_id], child_filter(parent_run_id, status), page_size or SEARCH_PAGE_SIZE)


def trial_state(run: Any) -> str:
    """The trial state of an MLflow run (see the module docstring)."""
    status = run.info.status
    if run.data.tags.get(PRUNED_TAG) == "true" or run.data.tags.get(TRIAL_STATE_TAG) == "pruned":
        return "pruned"
    if status == "FINISHED":
        return "complete"
    if status == "FAILED":
        return "failed"
    return "running" if status in ("RUNNING", "SCHEDULED") else "interrupted"


def trial_value(run: Any, state: str, objective_key: str = OBJECTIVE_KEY) -> float | None:
    """A trial's value: the objective when complete, the last intermediate value when pruned, else None."""
    metrics = run.data.metrics
    if state == "pruned":
        return metrics.get(PRUNED_VALUE_KEY, metrics.get(objective_key))
    return metrics.get(objective_key) if state == "complete" else None


def trial_number(run: Any, default: int = -1) -> int:
    """The ``trial.number`` tag of a child run, or ``default`` when it has none."""
    try:
        return int(run.data.tags[TRIAL_NUMBER_TAG])
    except (KeyError, ValueError):
        return default


def objective_key(parent_tags: Mapping[str, str]) -> str:
    """The child metric that holds each trial's value, as the sweep's parent run records it."""
    return parent_tags.get(OBJECTIVE_KEY_TAG, OBJECTIVE_KEY)


# -- trial.<k>.params: what the sweeper launched ---------------------------------------------------
def launched_tags(numbers: Iterable[int], params: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Parent tags recording the parameters of each launched trial, written before the launch."""
    return {f"trial.{k}.params": json.dumps(dict(p)) for k, p in zip(numbers, params)}


def rerun_tags(pairs: Iterable[tuple[int, int]]) -> dict[str, str]:
    """Parent tags recording that trial ``old`` was run again (after a resume) as trial ``new``."""
    return {f"trial.{old}.rerun_as": str(new) for old, new in pairs}


def launched_params(tags: Mapping[str, str]) -> dict[int, dict[str, Any]]:
    """What the sweeper launched, by trial number, from the parent's ``trial.<k>.params`` tags."""
    out: dict[int, dict[str, Any]] = {}
    for key, value in tags.items():
        match = _LAUNCHED.fullmatch(key)
        if match:
            with contextlib.suppress(ValueError, TypeError):  # a tag clipped at MLflow's length limit
                out[int(match[1])] = dict(json.loads(value))
    return out


def rerun_numbers(tags: Mapping[str, str]) -> set[int]:
    """Trials that a resumed sweep already ran again under a new number."""
    return {int(m[1]) for m in map(_RERUN.fullmatch, tags) if m}
