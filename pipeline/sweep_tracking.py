"""The parent MLflow run of a sweep: its tags, per-trial history, final summary, and resume state.

Trials log themselves as child runs (``mlflow.parentRunId``); what a trial needs to find its
parent travels in its overrides, so this works for trials in other processes or machines.
"""

from __future__ import annotations

import csv
import fcntl
import io
import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pipeline.tracking import MAX_TAG_LENGTH, Tracker, get_client, iter_runs

PARENT_TAG = "sweep.strategy"  # present on every sweep parent run
PRUNED_TAG = "trial.pruned"
ENDED = ("complete", "failed", "pruned")


@dataclass
class TrialRecord:
    """One trial as the sweep sees it."""

    number: int
    params: dict[str, Any]
    state: str = "running"  # running | complete | failed | pruned
    value: float | None = None
    seconds: float = 0.0
    run_id: str = ""
    error: str = ""


@dataclass
class SweepState:
    """What a resumed sweep learns from MLflow: ended trials, interrupted ones, the next job number."""

    ended: list[TrialRecord] = field(default_factory=list)
    interrupted: list[TrialRecord] = field(default_factory=list)
    next_number: int = 0


class SweepRun:
    """The sweep's parent run: created or resumed, updated per trial, summarised at the end."""

    def __init__(self, tracker: Tracker) -> None:
        self.tracker = tracker

    @property
    def run_id(self) -> str:
        return self.tracker.run_id

    @classmethod
    def create(cls, uri: str, experiment: str, name: str, tags: Mapping[str, str],
               params: Mapping[str, Any]) -> SweepRun:
        tracker = Tracker.start(uri, experiment, name, tags)
        tracker.log_params(params)
        return cls(tracker)

    @classmethod
    def reopen(cls, uri: str, run_id: str) -> SweepRun:
        client = get_client(uri)
        client.update_run(run_id, status="RUNNING")
        return cls(Tracker(client, run_id, uri))

    def log_trial(self, record: TrialRecord, best: float | None, counts: Mapping[str, int]) -> None:
        """One batched call per finished trial: its value, the best so far, and the state counts."""
        metrics = {f"n_{k}": float(v) for k, v in counts.items()}
        if record.value is not None:
            metrics["trial_value"] = record.value
        if best is not None:
            metrics["best_value"] = best
        self.tracker.log_metrics(metrics, step=record.number, flush=True)

    def finish(self, records: Sequence[TrialRecord], best: TrialRecord | None, results: Mapping[str, Any],
               status: str = "FINISHED") -> None:
        """Attach the trials table and ``optimization_results.yaml``; record the best trial; end the run."""
        files = {"trials.csv": trials_csv(records), "optimization_results.yaml": yaml.safe_dump(dict(results))}
        self.tracker.log_files(files)
        if best is not None:
            self.tracker.set_tags({"best.trial": best.number, "best.run_id": best.run_id,
                                   "best.params": json.dumps(best.params)})
            self.tracker.log_metrics({"best_value": best.value}, step=best.number)
        self.tracker.finish(status)


def child_runs(uri: str, parent_run_id: str) -> list[Any]:
    client = get_client(uri)
    parent = client.get_run(parent_run_id)
    return iter_runs(client, [parent.info.experiment_id], f"tags.`mlflow.parentRunId` = '{parent_run_id}'")


def child_state(run: Any, objective_key: str = "cv_mean") -> str:
    """Map an MLflow run status to a trial state; running ones are interrupted when the sweep is not."""
    status = run.info.status
    if run.data.tags.get(PRUNED_TAG) == "true":
        return "pruned"
    if status == "FINISHED" and objective_key in run.data.metrics:
        return "complete"
    if status == "FAILED":
        return "failed"
    return "interrupted"


def load_state(uri: str, parent_run_id: str, objective_key: str = "cv_mean") -> SweepState:
    """Read a sweep back: ended trials to tell the optimizer, interrupted ones to run again.

    What was launched is in the parent's ``trial.<k>.params`` tags (written before each launch),
    how it ended is in the child runs. Launched trials without an ended child were interrupted;
    children still marked RUNNING are ended as KILLED so that they never stay RUNNING.
    """
    client = get_client(uri)
    tags = client.get_run(parent_run_id).data.tags
    launched = {int(k.split(".")[1]): json.loads(v) for k, v in tags.items()
                if k.startswith("trial.") and k.endswith(".params")}
    rerun = {int(k.split(".")[1]) for k in tags if k.startswith("trial.") and k.endswith(".rerun_as")}
    children = {int(r.data.tags.get("trial.number", -1)): r for r in child_runs(uri, parent_run_id)}
    state = SweepState(next_number=max([*launched, *children], default=-1) + 1)
    for number, params in sorted(launched.items()):
        run = children.get(number)
        kind = child_state(run, objective_key) if run is not None else "interrupted"
        if run is not None and kind == "interrupted" and run.info.status == "RUNNING":
            client.set_terminated(run.info.run_id, "KILLED")
        if kind == "interrupted":
            if number not in rerun:
                state.interrupted.append(TrialRecord(number, params, kind))
            continue
        value = run.data.metrics.get("pruned_value" if kind == "pruned" else objective_key)
        state.ended.append(TrialRecord(number, params, kind, value if kind != "failed" else None,
                                       run_id=run.info.run_id, error=run.data.tags.get("error", "")))
    return state


def trials_csv(records: Sequence[TrialRecord]) -> str:
    """One row per trial: number, state, value, seconds, run id, then every parameter."""
    names = sorted({k for r in records for k in r.params})
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["trial", "state", "value", "seconds", "run_id", *names, "error"])
    for r in sorted(records, key=lambda r: r.number):
        writer.writerow([r.number, r.state, "" if r.value is None else r.value, f"{r.seconds:.2f}", r.run_id,
                         *[r.params.get(n, "") for n in names], r.error[:200]])
    return buf.getvalue()


def best_record(records: Sequence[TrialRecord], sign: float) -> TrialRecord | None:
    """The best complete trial (``sign`` = +1 to minimize, -1 to maximize); pruned trials never win."""
    done = [r for r in records if r.state == "complete" and r.value is not None and math.isfinite(r.value)]
    return min(done, key=lambda r: sign * r.value) if done else None


def clip_json(obj: Any) -> str:
    text = json.dumps(obj, default=str)
    return text if len(text) <= MAX_TAG_LENGTH else text[:MAX_TAG_LENGTH - 3] + "..."


# -- multiruns under Hydra's basic sweeper ---------------------------------------------------------
def basic_sweep_parent(uri: str, experiment: str, sweep_dir: str | Path, command: str) -> str:
    """Get or create the parent run of a basic-sweeper multirun, keyed by its sweep directory.

    Trials may run concurrently (joblib), so creation is serialised by a lock file in the
    sweep directory, and the parent's id is kept beside it.
    """
    folder = Path(sweep_dir).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    id_file = folder / ".mlflow_parent_run_id"
    with open(folder / ".mlflow_parent.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if id_file.exists():
            return id_file.read_text().strip()
        name = f"sweep-basic-{time.strftime('%Y%m%d-%H%M%S')}"
        run = SweepRun.create(uri, experiment, name, {PARENT_TAG: "basic", "sweep.dir": str(folder),
                                                      "sweep.command": command}, {"sweep.strategy": "basic"})
        id_file.write_text(run.run_id)
        return run.run_id


def summarise_basic_parent(uri: str, parent_run_id: str, sign: float, objective_key: str = "cv_mean") -> None:
    """Refresh a basic-sweep parent after each trial: best so far, counts, trials table; mark it FINISHED."""
    runs = child_runs(uri, parent_run_id)
    records = [TrialRecord(int(r.data.tags.get("trial.number", 0)), {}, child_state(r, objective_key),
                           r.data.metrics.get(objective_key), run_id=r.info.run_id) for r in runs]
    best = best_record(records, sign)
    tracker = Tracker(get_client(uri), parent_run_id, uri)
    counts = {s: sum(r.state == s for r in records) for s in ("complete", "failed")}
    tracker.log_metrics({f"n_{k}": float(v) for k, v in counts.items()}, step=len(records), flush=True)
    if best is not None:
        tracker.log_metrics({"best_value": best.value}, step=len(records), flush=True)
        tracker.set_tags({"best.trial": best.number, "best.run_id": best.run_id})
    tracker.log_files({"trials.csv": trials_csv(records)})
    tracker.client.set_terminated(parent_run_id, "FINISHED")
