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

from pipeline.objective import sign
from pipeline.tracking import lease, names, runs
from pipeline.tracking.names import TrialState
from pipeline.tracking.store import get_client
from pipeline.tracking.tracker import Tracker


@dataclass
class TrialRecord:
    """One trial as the sweep sees it."""

    number: int
    params: dict[str, Any]
    state: TrialState = TrialState.RUNNING  # see pipeline.tracking.names
    value: float | None = None  # None when failed, or complete without a reported value
    seconds: float = 0.0
    run_id: str = ""
    error: str = ""
    metrics: dict[str, float] = field(default_factory=dict)  # numbers the task returned besides its value
    error_type: str = ""  # the exception's class name, when failed
    values: tuple[float, ...] | None = None  # several objectives: one value each (``value`` is the first)
    constraints: tuple[float, ...] | None = None  # how far past each limit (<= 0: met); None: no limits, or unknown

    @property
    def feasible(self) -> bool:
        return self.constraints is None or all(c <= 0 for c in self.constraints)


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

    @property
    def experiment_id(self) -> str:
        return self.tracker.experiment_id

    @classmethod
    def create(cls, uri: str, experiment: str, name: str, tags: Mapping[str, str],
               params: Mapping[str, Any]) -> SweepRun:
        tracker = Tracker.start(uri, experiment, name, tags)
        tracker.log_params(params)
        return cls(tracker)

    @classmethod
    def reopen(cls, uri: str, run_id: str, holder: str) -> SweepRun:
        """Reopen the parent of an interrupted sweep for the sweeper ``holder`` (its lease); refused while the
        sweeper that last held it still runs."""
        client = get_client(uri)
        previous = client.get_run(run_id).data.tags.get(names.LEASE_TAG)
        if previous and previous != holder and lease.alive(previous):
            raise ValueError(f"hydra.sweeper.resume={run_id!r}: that sweep is still running (sweeper "
                             f"{previous}, host:pid:start); stop it before resuming")
        client.set_tag(run_id, names.LEASE_TAG, holder)
        client.update_run(run_id, status=TrialState.RUNNING.run_status)
        return cls(Tracker(client, run_id, uri))

    def create_trials(self, numbers: Sequence[int], params: Sequence[Mapping[str, Any]], again: bool = False,
                      extra: Mapping[int, Mapping[str, str]] | None = None) -> dict[int, str]:
        """Create the runs of trials about to be launched, named ``trial-007`` and tagged with their sweep, number
        and searched values (``names.launched_tags``): what a resumed sweep runs again lives on the trials' runs,
        not on the parent. A trial that records itself adopts its run (``tracking.run_id``, and its worker's lease
        with it); for any other app the sweeper fills it when the trial ends.

        ``extra``: more tags of some trials (``names.MUTATED_FROM_TAG``). ``again``: a previous call broke off (a
        server restarted mid-call may have made a run without answering): the runs the store already has for these
        numbers are taken, not made twice."""
        client, out = self.tracker.client, {}
        if again:
            wanted = set(numbers)
            for run in runs.child_runs(client, self.experiment_id, self.run_id):
                if runs.trial_number(run) in wanted:
                    out[runs.trial_number(run)] = run.info.run_id
        for number, p in zip(numbers, params):
            if number in out:
                continue
            tags = {**names.launched_tags(number, p, self.run_id), **(extra or {}).get(number, {})}
            run = client.create_run(self.experiment_id, run_name=names.trial_run_name(number),
                                    tags={k: names.clip(v) for k, v in tags.items()})
            out[number] = run.info.run_id
        return out

    def log_trial(self, record: TrialRecord, best: float | None, counts: Mapping[str, int],
                  hypervolume: float | None = None) -> None:
        """A finished trial's value, the best so far and the state counts (and the front's hypervolume), buffered:
        they travel with the next launch's tags (``Tracker.flush``), or at the latest after ``FLUSH_SECONDS``, in
        one call."""
        metrics = {names.count_metric(k): float(v) for k, v in counts.items()}
        if hypervolume is not None:
            metrics[names.HYPERVOLUME] = hypervolume
        if record.value is not None:
            metrics[names.TRIAL_VALUE] = record.value
        if best is not None:
            metrics[names.BEST_VALUE] = best
        self.tracker.log_metrics(metrics, step=record.number)

    def finish(self, records: Sequence[TrialRecord], best: TrialRecord | None, results: Mapping[str, Any],
               state: TrialState = TrialState.COMPLETE) -> None:
        """Attach the trials table and ``optimization_results.yaml``; record the best trial; end the run."""
        files = {names.TRIALS_TABLE: trials_csv(records), names.RESULTS_FILE: yaml.safe_dump(dict(results))}
        self.tracker.log_files(files)
        if best is not None:
            self.tracker.set_tags({names.BEST_TRIAL_TAG: best.number, names.BEST_RUN_TAG: best.run_id,
                                   names.BEST_PARAMS_TAG: json.dumps(best.params)})
            self.tracker.log_metrics({names.BEST_VALUE: best.value}, step=best.number)
        self.tracker.finish(state)


def load_state(uri: str, parent_run_id: str, keys: Mapping[str, str] | None = None) -> SweepState:
    """Read a sweep back: ended trials to tell the optimizer, interrupted ones to run again.

    What was launched is on each trial's run, created at launch with its searched values (sweeps recorded before
    that kept them in the parent's ``trial.<k>.params`` tags); how it ended, too. Launched trials whose run did
    not end were interrupted; runs still marked RUNNING are stale (their sweep is not running) and are ended as
    KILLED, and their trials run again under new numbers (``names.RERUN_AS_TAG`` on the old run). ``keys``: values
    to read back into each ended trial's ``metrics`` (name -> the run's metric holding it).
    """
    client = get_client(uri)
    parent = client.get_run(parent_run_id)
    tags, key = parent.data.tags, runs.objective_key(parent.data.tags)
    found = runs.child_runs(client, parent.info.experiment_id, parent_run_id)
    launched, rerun = runs.launched(tags, found), runs.rerun(tags, found)
    children = {runs.trial_number(r): r for r in found}
    state = SweepState(next_number=max([*launched, *children], default=-1) + 1)
    for number, params in sorted(launched.items()):
        run = children.get(number)
        kind = runs.trial_state(run) if run is not None else TrialState.INTERRUPTED
        if kind == TrialState.RUNNING:
            _wait_for_worker(run, number)
            client.set_terminated(run.info.run_id, TrialState.INTERRUPTED.run_status)
        if not kind.ended:
            if number not in rerun:
                state.interrupted.append(TrialRecord(number, params, TrialState.INTERRUPTED,
                                                     run_id=run.info.run_id if run is not None else ""))
            continue
        state.ended.append(TrialRecord(number, params, kind, runs.trial_value(run, kind, key), run_id=run.info.run_id,
                                       error=run.data.tags.get(names.ERROR_TAG, ""),
                                       metrics={n: run.data.metrics[k] for n, k in (keys or {}).items()
                                                if k in run.data.metrics}))
    return state


OLDER_COPY_WAIT = 30.0  # seconds a resume waits for a trial still running from the sweep's previous sweeper


def _wait_for_worker(run: Any, number: int) -> None:
    """A trial's older copy may still run on this machine (its worker outlived its sweeper): wait for it to
    stop (its watchdog ends it within seconds), or refuse to run the trial twice at once."""
    holder = run.data.tags.get(names.LEASE_TAG)
    if holder and not lease.wait_until_gone(holder, OLDER_COPY_WAIT):
        raise ValueError(f"trial {number} of this sweep is still running in worker {holder} (host:pid:start) "
                         f"after {OLDER_COPY_WAIT:.0f} s; stop it before resuming")


def trials_csv(records: Sequence[TrialRecord]) -> str:
    """One row per trial: number, state, value, seconds, run id, then every parameter."""
    keys = sorted({k for r in records for k in r.params})
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["trial", "state", "value", "seconds", "run_id", *keys, "error"])
    for r in sorted(records, key=lambda r: r.number):
        writer.writerow([r.number, r.state, "" if r.value is None else r.value, f"{r.seconds:.2f}", r.run_id,
                         *[r.params.get(n, "") for n in keys], r.error[:200]])
    return buf.getvalue()


def best_record(records: Sequence[TrialRecord], direction: str) -> TrialRecord | None:
    """The best complete feasible trial with a value in ``direction``; pruned trials never win."""
    done = [r for r in records if r.state == TrialState.COMPLETE and r.value is not None and math.isfinite(r.value)
            and r.feasible]
    return min(done, key=lambda r: sign(direction) * r.value) if done else None


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
        basic = names.BASIC_STRATEGY
        name = f"sweep-{basic}-{time.strftime('%Y%m%d-%H%M%S')}"
        run = SweepRun.create(uri, experiment, name, {names.SWEEP_TAG: basic, names.SWEEP_DIR_TAG: str(folder),
                                                      names.SWEEP_COMMAND_TAG: command}, {names.SWEEP_TAG: basic})
        id_file.write_text(run.run_id)
        return run.run_id


def summarise_basic_parent(uri: str, parent_run_id: str, direction: str) -> None:
    """Refresh a basic-sweep parent after each trial: best so far, counts, trials table; mark it FINISHED."""
    client = get_client(uri)
    children = runs.child_runs(client, client.get_run(parent_run_id).info.experiment_id, parent_run_id)
    records = []
    for r in children:
        state = runs.trial_state(r)
        records.append(TrialRecord(runs.trial_number(r, 0), {}, state, runs.trial_value(r, state),
                                   run_id=r.info.run_id))
    best = best_record(records, direction)
    tracker = Tracker(client, parent_run_id, uri)
    counts = {s: sum(r.state == s for r in records) for s in (TrialState.COMPLETE, TrialState.FAILED)}
    tracker.log_metrics({names.count_metric(k): float(v) for k, v in counts.items()}, step=len(records), flush=True)
    if best is not None:
        tracker.log_metrics({names.BEST_VALUE: best.value}, step=len(records), flush=True)
        tracker.set_tags({names.BEST_TRIAL_TAG: best.number, names.BEST_RUN_TAG: best.run_id})
    tracker.log_files({names.TRIALS_TABLE: trials_csv(records)})
    tracker.client.set_terminated(parent_run_id, TrialState.COMPLETE.run_status)
