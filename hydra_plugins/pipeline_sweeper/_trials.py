"""What the sweeper learns from each launched trial, and what it writes to MLflow for apps that write nothing.

A task's return value becomes a trial record (``outcome``): a number is the objective; a mapping gives it
under ``hydra.sweeper.objective``; ``None`` is a trial that completed without a value; a mapping
``{"pruned": True, "value": v}`` is a trial the pruner stopped (the trial protocol of ``pipeline.trial``).
A foreign Hydra app logs nothing itself, so the sweeper writes one child run per trial (``record_runs``):
its overrides as params, its value as a metric, its state. At the end, every launched trial must have
its child run in the sweep's store (``missing_runs``).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

from hydra.core.utils import JobReturn, JobStatus

from pipeline import objective
from pipeline.tracking import names as rr
from pipeline.tracking.sweep_run import TrialRecord

PRUNED_KEY, PRUNED_VALUE = objective.RETURN_PRUNED, objective.RETURN_VALUE  # what a pruned trial returns


def outcome(ret: JobReturn, params: dict[str, Any], number: int, started: float, objective: str | None
            ) -> TrialRecord:
    """Turn a launcher's ``JobReturn`` into a trial record; a value that is not a finite number fails the trial."""
    record = TrialRecord(number, dict(params), seconds=time.monotonic() - started)
    if ret.status != JobStatus.COMPLETED:
        err = ret._return_value
        record.state, record.error, record.error_type = "failed", f"{type(err).__name__}: {err}", type(err).__name__
        return record
    value, pruned = ret.return_value, False
    if isinstance(value, Mapping):
        record.metrics = {str(k): float(v) for k, v in value.items() if _is_number(v)}
        pruned = bool(value.get(PRUNED_KEY))
        key = PRUNED_VALUE if pruned else objective
        if key not in value:
            keys = sorted(map(str, value))
            record.state, record.error = "failed", (
                f"the task returned a mapping (keys {keys}); set hydra.sweeper.objective to the one to optimize"
                if key is None else f"the task returned a mapping without {key!r}; its keys: {keys}")
            return record
        value = value[key]
    elif objective is not None and value is not None:
        record.state, record.error = "failed", (f"hydra.sweeper.objective={objective!r} but the task returned "
                                                f"{value!r}, not a mapping")
        return record
    if value is None and not pruned:
        record.state = "complete"  # completed without a value: nothing to learn, no best claimed
        return record
    if not _is_number(value) or not math.isfinite(float(value)):
        record.state, record.error = "failed", f"the task returned {value!r}, expected a finite number or None"
        return record
    record.state, record.value = ("pruned" if pruned else "complete"), float(value)
    return record


def _is_number(v: Any) -> bool:
    if isinstance(v, bool):
        return False
    try:
        float(v)
    except (TypeError, ValueError):
        return False
    return True


def record_runs(client: Any, experiment_id: str, parent_run_id: str, records: Sequence[TrialRecord],
                overrides: Sequence[Sequence[str]], objective_key: str, started_ms: int) -> None:
    """One child run per trial of a foreign app, written by the sweeper: 3 round trips each."""
    from mlflow.entities import Metric, Param

    from pipeline.tracking.tracker import MAX_PARAMS_PER_BATCH, MAX_TAG_LENGTH, param_text, redact, safe_key

    now = int(time.time() * 1000)
    for record, trial_overrides in zip(records, overrides):
        tags = {rr.PARENT_RUN_TAG: parent_run_id, rr.TRIAL_NUMBER_TAG: str(record.number),
                rr.TRIAL_STATE_TAG: record.state, rr.OVERRIDES_TAG: redact(json.dumps(list(trial_overrides)))}
        if record.error:
            tags[rr.ERROR_TAG] = record.error[:MAX_TAG_LENGTH]
        run = client.create_run(experiment_id, start_time=started_ms, run_name=run_name(record), tags=tags)
        params = [Param(safe_key(k), param_text(v)) for k, v in _override_params(trial_overrides).items()]
        metrics = {**record.metrics, **({objective_key: record.value} if record.value is not None else {})}
        client.log_batch(run.info.run_id, metrics=[Metric(safe_key(k), v, now, 0) for k, v in metrics.items()
                                                   if math.isfinite(v)], params=params[:MAX_PARAMS_PER_BATCH])
        client.set_terminated(run.info.run_id, "FAILED" if record.state == "failed" else "FINISHED", end_time=now)
        record.run_id = run.info.run_id


def run_name(record: TrialRecord) -> str:
    """A trial's name in the run list, with how it ended: ``trial-007 0.9784``, ``trial-008 failed``."""
    name = f"trial-{record.number:03d}"
    if record.state in ("failed", "pruned"):
        return f"{name} {record.state}"
    return name if record.value is None else f"{name} {record.value:.4g}"


def result_text(record: TrialRecord) -> str:
    """A trial's result on the progress line."""
    if record.state == "failed":
        return "failed: " + (record.error.splitlines() or [""])[0]  # whole, not cut: the run holds the rest
    if record.value is None:
        return "complete, no value"
    return f"pruned at {record.value:.6g}" if record.state == "pruned" else f"{record.value:.6g}"


def _override_params(overrides: Sequence[str]) -> dict[str, str]:
    out = {}
    for o in overrides:
        key, sep, value = o.partition("=")
        if sep and not key.startswith("~"):
            out[key.lstrip("+")] = value
    return out


def missing_runs(records: Sequence[TrialRecord], found: Mapping[int, str]) -> list[int]:
    """Trials that ran (not failed before they could log) but have no child run among ``found`` (number -> run id)."""
    return [r.number for r in records if r.number not in found and r.state != "failed"]
