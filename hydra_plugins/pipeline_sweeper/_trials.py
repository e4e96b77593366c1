"""What the sweeper learns from each launched trial, and what it writes to MLflow for apps that write nothing.

A task's return value becomes a trial record (``outcome``): a number is the objective; a mapping gives it
under ``hydra.sweeper.objective`` (or, from a task that follows the trial protocol of ``pipeline.objective``,
under ``value``, with its run's id); ``None`` is a trial that completed without a value; a mapping that says
``pruned`` is a trial the pruner stopped.
A foreign Hydra app logs nothing itself, so the sweeper writes one child run per trial (``record_runs``):
its overrides as params, its value as a metric, its state. At the end, every launched trial must have
its child run in the sweep's store (``missing_runs``).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hydra.core.utils import JobReturn, JobStatus

from pipeline.errors import ConfigError, DataError
from pipeline.objective import RETURN_PRUNED, RETURN_RUN_ID, RETURN_VALUE, Constraint, Objectives
from pipeline.tracking import names
from pipeline.tracking.names import TrialState
from pipeline.tracking.sweep_run import SweepRun, TrialRecord

# A failed record's error type when what the task returned cannot be read: every trial would repeat it.
RETURN_ERROR = "TaskReturn"


@dataclass(frozen=True)
class Reading:
    """How a task's return value is read: ``key``, ``hydra.sweeper.objective``, the key of the value in a mapping
    the task returns (without it, a mapping of the trial protocol, one that says its ``run_id``, holds it under
    ``value``); ``goals``, several objectives, read from a mapping by name or from a sequence in order
    (``_several``); ``limits``, constraints on values of the mapping, recorded as the trial's violations."""

    key: str | None = None
    goals: Objectives | None = None
    limits: tuple[Constraint, ...] = ()


def outcome(ret: JobReturn, params: dict[str, Any], number: int, started: float,
            reading: Reading | str | None) -> TrialRecord:
    """Turn a launcher's ``JobReturn`` into a trial record; a value that is not a finite number fails the trial.
    ``reading``: how its value is read (``Reading``; a bare key or None for one objective)."""
    if not isinstance(reading, Reading):
        reading = Reading(reading)
    key, goals, limits = reading.key, reading.goals, reading.limits
    record = TrialRecord(number, dict(params), seconds=time.monotonic() - started)
    if ret.status != JobStatus.COMPLETED:
        err = ret._return_value
        record.state, record.error, record.error_type = TrialState.FAILED, f"{type(err).__name__}: {err}", \
            type(err).__name__
        record.run_id = str(getattr(err, RETURN_RUN_ID, "") or "")
        return record
    if goals is not None and goals.multi:
        _several(record, ret.return_value, goals)
    else:
        _one(record, ret.return_value, key)
    if limits and record.state in (TrialState.COMPLETE, TrialState.PRUNED) and record.value is not None:
        _limit(record, limits)
    return record


def _several(record: TrialRecord, value: Any, goals: Objectives) -> None:
    """Several objectives: a mapping's values under the objectives' names, or a sequence's in order."""
    labels, pruned = goals.labels, False
    if isinstance(value, Mapping):
        record.metrics = {str(k): float(v) for k, v in value.items() if _is_number(v)}
        record.run_id = str(value.get(RETURN_RUN_ID) or "")
        pruned = bool(value.get(RETURN_PRUNED))
        missing = [n for n in labels if n not in value]
        if missing and not pruned:
            keys = sorted(map(str, value))
            record.state, record.error_type, record.error = TrialState.FAILED, RETURN_ERROR, (
                f"the task returned a mapping without {missing[0]!r} (an objective); its keys: {keys}" if goals.names
                else f"the task returned a mapping (keys {keys}); set hydra.sweeper.objective to the keys to optimize")
            return
        found = None if missing else [value[n] for n in labels]
    elif isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        if len(value) != len(labels):
            record.state, record.error_type = TrialState.FAILED, RETURN_ERROR
            record.error = f"the task returned {len(value)} values for {len(labels)} objectives {list(labels)}"
            return
        found = list(value)
        record.metrics = {n: float(v) for n, v in zip(labels, value) if _is_number(v)}
    elif value is None:
        record.state = TrialState.COMPLETE
        return
    else:
        record.state, record.error_type = TrialState.FAILED, RETURN_ERROR
        record.error = (f"the task returned {value!r}; expected a mapping with keys {list(labels)} or a sequence of "
                        f"{len(labels)} numbers, one per objective")
        return
    if found is not None and not all(_is_number(v) and math.isfinite(float(v)) for v in found):
        record.state, record.error = TrialState.FAILED, f"the task returned {found!r} for {list(labels)}, expected " \
                                                        "finite numbers"
        record.error_type = "" if all(_is_number(v) for v in found) else RETURN_ERROR
        return
    record.state = TrialState.PRUNED if pruned else TrialState.COMPLETE
    if found is not None:
        record.values = tuple(float(v) for v in found)
        record.value = record.values[0]


def _limit(record: TrialRecord, limits: Sequence[Constraint]) -> None:
    """The trial's violation of each limit (<= 0: met), from the values it returned; a completed trial that does not
    return a limited value fails (every trial would repeat it), a pruned one is left unjudged."""
    missing = [c for c in limits if c.name not in record.metrics]
    if missing:
        if record.state == TrialState.COMPLETE:
            record.state, record.error_type, record.value, record.values = TrialState.FAILED, RETURN_ERROR, None, None
            record.error = (f"the task returned no {missing[0].name!r} for the constraint {missing[0]}; its values: "
                            f"{sorted(record.metrics)}")
        return
    record.constraints = tuple(c.violation(record.metrics[c.name]) for c in limits)


def _one(record: TrialRecord, value: Any, key: str | None) -> None:
    """One objective: a number, or the value of a mapping under ``key`` (or the trial protocol's ``value``)."""
    pruned = False
    if isinstance(value, Mapping):
        record.metrics = {str(k): float(v) for k, v in value.items() if _is_number(v)}
        record.run_id = str(value.get(RETURN_RUN_ID) or "")
        pruned = bool(value.get(RETURN_PRUNED))
        wanted = RETURN_VALUE if pruned or (key is None and RETURN_RUN_ID in value) else key
        if wanted not in value:
            keys = sorted(map(str, value))
            record.state, record.error_type, record.error = TrialState.FAILED, RETURN_ERROR, (
                f"the task returned a mapping (keys {keys}); set hydra.sweeper.objective to the one to optimize"
                if wanted is None else f"the task returned a mapping without {wanted!r}; its keys: {keys}")
            return
        value = value[wanted]
    elif key is not None and value is not None:
        record.state, record.error_type = TrialState.FAILED, RETURN_ERROR
        record.error = f"hydra.sweeper.objective={key!r} but the task returned {value!r}, not a mapping"
        return
    if value is None and not pruned:
        record.state = TrialState.COMPLETE  # completed without a value: nothing to learn, no best claimed
        return
    if not _is_number(value) or not math.isfinite(float(value)):
        record.state, record.error = TrialState.FAILED, f"the task returned {value!r}, expected a finite number or None"
        record.error_type = "" if _is_number(value) else RETURN_ERROR  # nan at one point, a string at every one
        return
    record.state, record.value = (TrialState.PRUNED if pruned else TrialState.COMPLETE), float(value)



def _is_number(v: Any) -> bool:
    if isinstance(v, bool):
        return False
    try:
        float(v)
    except (TypeError, ValueError):
        return False
    return True


def record_runs(parent: SweepRun, records: Sequence[TrialRecord], launch: Any, objective_key: str,
                trial_runs: Mapping[int, str]) -> None:
    """Each trial of a foreign app written into the run the sweeper created at its launch (``trial_runs``: number
    -> run id; created here for a trial without one): its overrides as params, its values as metrics, how it
    ended; 2 round trips each. ``launch`` (``_impl.Launch``) says when the trials started and with which overrides."""
    from mlflow.entities import Metric, Param, RunTag

    from pipeline.tracking.store import redact
    from pipeline.tracking.tracker import MAX_PARAMS_PER_BATCH, param_text, safe_key

    client, now = parent.tracker.client, int(time.time() * 1000)
    overrides_of = dict(zip(launch.numbers, launch.overrides))
    for record in records:
        trial_overrides = overrides_of.get(record.number, [])
        name = names.ended_run_name(names.trial_run_name(record.number), record.state, record.value)
        tags = {names.TRIAL_STATE_TAG: str(record.state), names.RUN_NAME_TAG: name,
                names.OVERRIDES_TAG: redact(json.dumps(list(trial_overrides)))}
        if record.error:
            tags[names.ERROR_TAG] = names.clip(record.error)
        run_id = trial_runs.get(record.number)
        if run_id is None:
            run_id = client.create_run(parent.experiment_id, start_time=launch.started_ms, tags={
                names.PARENT_RUN_TAG: parent.run_id, names.TRIAL_NUMBER_TAG: str(record.number)}).info.run_id
        params = [Param(safe_key(k), param_text(v)) for k, v in _override_params(trial_overrides).items()]
        metrics = {**record.metrics, **({objective_key: record.value} if record.value is not None else {})}
        client.log_batch(run_id, metrics=[Metric(safe_key(k), v, now, 0) for k, v in metrics.items()
                                          if math.isfinite(v)], params=params[:MAX_PARAMS_PER_BATCH],
                         tags=[RunTag(k, v) for k, v in tags.items()])
        client.set_terminated(run_id, TrialState(record.state).run_status, end_time=now)
        record.run_id = run_id


def end_unclaimed(parent: SweepRun, records: Sequence[TrialRecord], trial_runs: Mapping[int, str]) -> None:
    """Failed trials that never took the run created for them at launch (their worker died, or they failed before
    they could start): the sweeper ends it FAILED with the error, so that every launched trial's run ends."""
    from mlflow.entities import RunTag

    client = parent.tracker.client
    for record in records:
        run_id = trial_runs.get(record.number)
        if run_id is None or client.get_run(run_id).info.status != TrialState.RUNNING.run_status:
            continue  # none created, or the trial ended it itself
        tags = {names.TRIAL_STATE_TAG: str(TrialState.FAILED), names.ERROR_TAG: names.clip(record.error),
                names.RUN_NAME_TAG: names.ended_run_name(names.trial_run_name(record.number), TrialState.FAILED)}
        client.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()])
        client.set_terminated(run_id, TrialState.FAILED.run_status)
        record.run_id = run_id


def result_text(record: TrialRecord) -> str:
    """A trial's result on the progress line."""
    if record.state == TrialState.FAILED:
        return "failed: " + (record.error.splitlines() or [""])[0]  # whole, not cut: the run holds the rest
    if record.value is None:
        return "complete, no value" if record.state == TrialState.COMPLETE else "pruned"
    shown = ", ".join(f"{v:.6g}" for v in record.values) if record.values else f"{record.value:.6g}"
    shown += "" if record.feasible else " (infeasible)"
    return f"pruned at {shown}" if record.state == TrialState.PRUNED else shown


def restore(record: TrialRecord, goals: Objectives, limits: Sequence[Constraint]) -> TrialRecord:
    """A trial read back from its run (a resume; its ``metrics`` the values it logged, by name): its values and
    violations as when it ended."""
    if record.state not in (TrialState.COMPLETE, TrialState.PRUNED):
        return record
    if goals.multi:
        found = [record.metrics.get(n) for n in goals.labels]
        record.values = tuple(found) if None not in found else None
        record.value = record.values[0] if record.values else (record.value if record.state == TrialState.PRUNED
                                                               else None)
    if limits and all(c.name in record.metrics for c in limits):
        record.constraints = tuple(c.violation(record.metrics[c.name]) for c in limits)
    return record


def _override_params(overrides: Sequence[str]) -> dict[str, str]:
    out = {}
    for o in overrides:
        key, sep, value = o.partition("=")
        if sep and not key.startswith("~"):
            out[key.lstrip("+")] = value
    return out


def missing_runs(records: Sequence[TrialRecord], found: Mapping[int, str]) -> list[int]:
    """Trials that ran (not failed before they could log) but have no child run among ``found`` (number -> run id)."""
    return [r.number for r in records if r.number not in found and r.state != TrialState.FAILED]


class SweepFailed(RuntimeError):
    """Too many trials failed: the sweep stops and its parent run is marked FAILED."""


def check_repeating(searched: Sequence[str], records: Sequence[TrialRecord]) -> None:
    """A failure every trial would repeat (its data cannot load, a fixed setting is invalid) stops the sweep at
    its first occurrence: an error of the trial's data or config that names no parameter being searched."""
    for r in records:
        repeats = r.error_type == RETURN_ERROR or (r.error_type in (DataError.__name__, ConfigError.__name__) and
                                                   not any(name.lstrip("+") in r.error for name in searched))
        if r.state == TrialState.FAILED and repeats:
            raise SweepFailed(f"trial {r.number} failed with an error every trial would repeat, so the sweep "
                              f"stops: {r.error}")


def check_failures(plan: Any, failed: int, ended: int) -> None:
    """More than ``plan.max_failure_rate`` of ``plan.n_trials`` failed: the sweep stops."""
    if failed > plan.max_failure_rate * plan.n_trials:
        raise SweepFailed(
            f"{failed} of {ended} trials failed, more than max_failure_rate={plan.max_failure_rate} of "
            f"n_trials={plan.n_trials}; stopping the sweep. The errors are in the trials' MLflow runs and the "
            f"log above; raise hydra.sweeper.max_failure_rate to tolerate more failures.")
