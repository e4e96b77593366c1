"""Reading the run record back: a sweep's children (paged, so sweeps of thousands of trials work), and what a
child run says of its trial (state, value, number). The one place that queries runs by their parent."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pipeline.errors import TrackingError
from pipeline.objective import OBJECTIVE_KEY, PRUNED_VALUE_KEY
from pipeline.tracking.names import (
    OBJECTIVE_KEY_TAG,
    PARENT_RUN_TAG,
    PRUNED_TAG,
    TRIAL_NUMBER_TAG,
    TRIAL_STATE_TAG,
    TrialState,
)

SEARCH_PAGE_SIZE = 1000  # runs per search_runs call (MLflow's server caps a page at 50000)


def get_run(client: Any, run_id: str, uri: str) -> Any:
    """The run ``run_id``; a ``TrackingError`` naming it and the store when the store has no such run."""
    from mlflow.exceptions import MlflowException

    from pipeline.tracking.store import redact

    try:
        return client.get_run(run_id)
    except MlflowException as e:
        if getattr(e, "error_code", "") not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise
        raise TrackingError(f"run id {run_id!r} is not in the store {redact(uri)}: expected the id of a run there "
                            "(MLflow's UI shows them; --tracking-uri or MLFLOW_TRACKING_URI names another store)"
                            ) from None


def iter_runs(client: Any, experiment_ids: Iterable[str], filter_string: str,
              page_size: int = SEARCH_PAGE_SIZE) -> list[Any]:
    """All runs matching ``filter_string``, one ``search_runs`` call per ``page_size`` runs."""
    runs, token = [], None
    while True:
        page = client.search_runs(list(experiment_ids), filter_string, max_results=page_size, page_token=token)
        runs += list(page)
        token = page.token
        if not token:
            return runs


def child_filter(parent_run_id: str, status: str | None = None) -> str:
    """The ``search_runs`` filter selecting the children of ``parent_run_id`` (with that status)."""
    where = f"tags.`{PARENT_RUN_TAG}` = '{parent_run_id}'"
    return where + (f" and attributes.status = '{status}'" if status else "")


def child_runs(client: Any, experiment_id: str, parent_run_id: str, page_size: int = SEARCH_PAGE_SIZE,
               status: str | None = None) -> list[Any]:
    """Every child run of ``parent_run_id`` (all pages of the search), or those with ``status``."""
    return iter_runs(client, [experiment_id], child_filter(parent_run_id, status), page_size)


def trial_state(run: Any) -> TrialState:
    """The trial state of an MLflow run (see ``pipeline.tracking.names``)."""
    tags = run.data.tags
    if tags.get(PRUNED_TAG) == "true" or tags.get(TRIAL_STATE_TAG) == TrialState.PRUNED:
        return TrialState.PRUNED
    return TrialState.of_status(run.info.status)


def trial_value(run: Any, state: TrialState, objective_key: str = OBJECTIVE_KEY) -> float | None:
    """A trial's value: the objective when complete, the last intermediate value when pruned, else None."""
    metrics = run.data.metrics
    if state == TrialState.PRUNED:
        return metrics.get(PRUNED_VALUE_KEY, metrics.get(objective_key))
    return metrics.get(objective_key) if state == TrialState.COMPLETE else None


def trial_number(run: Any, default: int = -1) -> int:
    """The ``trial.number`` tag of a child run, or ``default`` when it has none."""
    try:
        return int(run.data.tags[TRIAL_NUMBER_TAG])
    except (KeyError, ValueError):
        return default


def objective_key(parent_tags: Mapping[str, str]) -> str:
    """The child metric that holds each trial's value, as the sweep's parent run records it."""
    return parent_tags.get(OBJECTIVE_KEY_TAG, OBJECTIVE_KEY)


def running_trial_runs(client: Any, experiment_id: str, parent_run_id: str, numbers: Sequence[int]) -> list[Any]:
    """The child runs of trials ``numbers`` still marked RUNNING: one search."""
    wanted = {str(k) for k in numbers}
    found = child_runs(client, experiment_id, parent_run_id, status=TrialState.RUNNING.run_status)
    return [r for r in found if r.data.tags.get(TRIAL_NUMBER_TAG) in wanted]


def launched(parent_tags: Mapping[str, str], children: Iterable[Any]) -> dict[int, dict[str, Any]]:
    """What a sweep launched, by trial number: the searched values on each trial's run (created at launch,
    ``names.launched_tags``), and for sweeps recorded before that, on the parent (``trial.<k>.params``)."""
    from pipeline.tracking.names import launched_params, launched_run_params

    out = launched_params(parent_tags)
    for run in children:
        params, number = launched_run_params(run.data.tags), trial_number(run)
        if params is not None and number >= 0:
            out[number] = params
    return out


def rerun(parent_tags: Mapping[str, str], children: Iterable[Any]) -> set[int]:
    """Trials that a resumed sweep (or a worker's death) ran again under a new number: tagged on their run, or
    for sweeps recorded before, on the parent."""
    from pipeline.tracking.names import RERUN_AS_TAG, rerun_numbers

    return rerun_numbers(parent_tags) | {trial_number(r) for r in children if RERUN_AS_TAG in r.data.tags}
