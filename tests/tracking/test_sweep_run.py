"""The sweep's parent run on a real SQLite store: per-trial history, summary, resume state, basic sweeps."""

from __future__ import annotations

import csv
import io
import json
import socket
import threading

import mlflow
import pytest
import yaml
from mlflow.tracking import MlflowClient

from pipeline.tracking import names, runs
from pipeline.tracking.names import TrialState
from pipeline.tracking.store import get_client
from pipeline.tracking.sweep_run import (
    SweepRun,
    TrialRecord,
    basic_sweep_parent,
    best_record,
    load_state,
    summarise_basic_parent,
    trials_csv,
)
from pipeline.tracking.tracker import Tracker

GONE = f"{socket.gethostname()}:999999999:0"  # the lease of a worker that has ended (no such process)
PARAMS = [{"optimizer.lr": 0.01}, {"optimizer.lr": 0.02}, {"optimizer.lr": 0.03}, {"optimizer.lr": 0.04},
          {"optimizer.lr": 0.05}]


def launch(uri, parent, number, status, metrics=None, tags=None, old=False):
    """A trial launched by the sweeper (its run created with its values) and logged by itself into that run; ``old``:
    as sweeps recorded them before (the values on the parent, the trial's own run)."""
    if old:
        parent.tracker.set_tags(names.parent_launched_tags([number], [PARAMS[number]]))
        run_id = None
    else:
        run_id = parent.create_trials([number], [PARAMS[number]])[number]
    own = {names.TRIAL_NUMBER_TAG: str(number), names.LEASE_TAG: GONE, **(tags or {})}  # its worker, ended since
    child = Tracker.start(uri, "sweeps", f"trial-{number:03d}", own,
                          parent_run_id=parent.run_id, run_id=run_id)
    assert run_id is None or child.run_id == run_id
    if metrics:
        child.log_metrics(metrics, flush=True)
    if status:
        child.client.set_terminated(child.run_id, status)
    return child.run_id


@pytest.mark.parametrize("old", [False, True], ids=["values-on-the-trials-runs", "values-on-the-parent"])
def test_resume_state_tells_ended_trials_and_reruns_the_rest(tracking_uri, old):
    parent = SweepRun.create(tracking_uri, "sweeps", "random-sweep", {names.SWEEP_TAG: "random"}, {})
    launch(tracking_uri, parent, 0, "FINISHED", {"cv_mean": 0.9}, old=old)
    launch(tracking_uri, parent, 1, "FAILED", old=old)
    stale = launch(tracking_uri, parent, 2, None, {"cv_mean": 0.5}, old=old)  # still RUNNING: its sweep was killed
    launch(tracking_uri, parent, 3, "FINISHED", old=old)  # returned nothing: complete without a value
    if old:
        parent.tracker.set_tags(names.parent_launched_tags([4], [PARAMS[4]]))  # launched, never started
    else:
        never = parent.create_trials([4], [PARAMS[4]])[4]
    state = load_state(tracking_uri, parent.run_id)
    assert [(r.number, r.state, r.value) for r in state.ended] == [(0, "complete", 0.9), (1, "failed", None),
                                                                   (3, "complete", None)]
    assert [(r.number, r.params) for r in state.interrupted] == [(2, PARAMS[2]), (4, PARAMS[4])]
    assert state.next_number == 5
    client = MlflowClient(tracking_uri)
    assert client.get_run(stale).info.status == "KILLED"
    if not old:
        assert client.get_run(never).info.status == "KILLED" and state.interrupted[1].run_id == never
        assert not any(k.startswith("trial.") for k in client.get_run(parent.run_id).data.tags)  # all on the trials
    # once re-run under new numbers, a second resume does not run them again
    if old:
        parent.tracker.set_tags(names.rerun_tags([(2, 5), (4, 6)]))
    else:
        for r, k in zip(state.interrupted, (5, 6)):
            client.set_tag(r.run_id, names.RERUN_AS_TAG, str(k))
    assert load_state(tracking_uri, parent.run_id).interrupted == []


def test_resume_reads_the_objective_key_the_parent_records(tracking_uri):
    parent = SweepRun.create(tracking_uri, "sweeps", "bayes-sweep", {names.SWEEP_TAG: "bayes",
                                                                     names.OBJECTIVE_KEY_TAG: "val_rmse"}, {})
    launch(tracking_uri, parent, 0, "FINISHED", {"val_rmse": 3.0, "cv_mean": 99.0})
    [ended] = load_state(tracking_uri, parent.run_id).ended
    assert ended.value == 3.0


def test_parent_history_and_summary(tracking_uri):
    parent = SweepRun.create(tracking_uri, "sweeps", "grid-sweep", {names.SWEEP_TAG: "grid"}, {"sweep.n_trials": 3})
    records = [TrialRecord(0, PARAMS[0], "complete", 0.8, 1.5, "r0"), TrialRecord(1, PARAMS[1], "failed", None, 0.2,
                                                                                   "r1", "ValueError: x"),
               TrialRecord(2, PARAMS[2], "complete", 0.9, 1.1, "r2")]
    for k, r in enumerate(records):
        best = best_record(records[:k + 1], "maximize")
        parent.log_trial(r, best and best.value, {"complete": k, "failed": 1})
    parent.finish(records, best_record(records, "maximize"), {"best_value": 0.9}, TrialState.COMPLETE)
    client = MlflowClient(tracking_uri)
    run = client.get_run(parent.run_id)
    assert run.info.status == "FINISHED" and run.data.params["sweep.n_trials"] == "3"
    assert run.data.tags[names.BEST_RUN_TAG] == "r2" and json.loads(run.data.tags["best.params"]) == PARAMS[2]
    assert [(m.step, m.value) for m in client.get_metric_history(parent.run_id, "trial_value")] == [(0, 0.8), (2, 0.9)]
    assert [m.value for m in client.get_metric_history(parent.run_id, "best_value")][-1] == 0.9
    folder = mlflow.artifacts.download_artifacts(run_id=parent.run_id, tracking_uri=tracking_uri)
    assert yaml.safe_load(open(f"{folder}/optimization_results.yaml")) == {"best_value": 0.9}
    rows = list(csv.DictReader(open(f"{folder}/trials.csv")))
    assert [r["state"] for r in rows] == ["complete", "failed", "complete"] and rows[1]["error"] == "ValueError: x"


@pytest.mark.parametrize("direction, best", [("maximize", 2), ("minimize", 0)])
def test_best_record_follows_the_direction_and_skips_pruned_and_valueless(direction, best):
    records = [TrialRecord(0, {}, "complete", 0.5), TrialRecord(1, {}, "pruned", 0.99 if direction == "maximize"
                                                                   else 0.01),
               TrialRecord(2, {}, "complete", 0.7), TrialRecord(3, {}, "complete", None),
               TrialRecord(4, {}, "failed", None), TrialRecord(5, {}, "complete", float("nan"))]
    assert best_record(records, direction).number == best
    assert best_record([TrialRecord(0, {}, "complete", None)], direction) is None


def test_trials_csv_has_a_column_per_parameter_in_trial_order():
    text = trials_csv([TrialRecord(1, {"b": 2, "a": "x"}, "complete", 0.5, 1.0, "r1"),
                       TrialRecord(0, {"a": "y"}, "failed", None, 0.5, "r0", "E" * 300)])
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["trial", "state", "value", "seconds", "run_id", "a", "b", "error"]
    assert rows[1][:6] == ["0", "failed", "", "0.50", "r0", "y"] and len(rows[1][-1]) == 200
    assert rows[2] == ["1", "complete", "0.5", "1.00", "r1", "x", "2", ""]


def test_basic_sweep_parent_is_created_once_for_concurrent_trials(tracking_uri, tmp_path):
    ids: list[str] = []
    threads = [threading.Thread(target=lambda: ids.append(basic_sweep_parent(tracking_uri, "basic", tmp_path / "s",
                                                                             "python train.py -m")))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(ids)) == 1 and (tmp_path / "s" / ".mlflow_parent_run_id").read_text() == ids[0]
    run = MlflowClient(tracking_uri).get_run(ids[0])
    assert run.data.tags[names.SWEEP_TAG] == "basic" and run.data.tags["sweep.dir"] == str(tmp_path / "s")


def test_basic_parent_summary_after_each_trial(tracking_uri, tmp_path):
    pid = basic_sweep_parent(tracking_uri, "basic", tmp_path, "python train.py -m")
    for k, (status, value) in enumerate([("FINISHED", 0.4), ("FAILED", None), ("FINISHED", 0.3)]):
        run = Tracker.start(tracking_uri, "basic", f"t{k}", {names.TRIAL_NUMBER_TAG: str(k)}, parent_run_id=pid)
        if value is not None:
            run.log_metrics({"cv_mean": value}, flush=True)
        run.client.set_terminated(run.run_id, status)
        summarise_basic_parent(tracking_uri, pid, "minimize")
    parent = MlflowClient(tracking_uri).get_run(pid)
    assert parent.info.status == "FINISHED" and parent.data.metrics["best_value"] == 0.3
    assert parent.data.metrics["n_complete"] == 2 and parent.data.metrics["n_failed"] == 1
    assert parent.data.tags["best.trial"] == "2" and len(runs.child_runs(get_client(tracking_uri),
                                                                         parent.info.experiment_id, pid)) == 3


def test_creating_trials_again_after_a_broken_call_makes_no_run_twice(tracking_uri):
    """A server restarted mid-call may have made a run without answering: the sweeper asks again with ``again``."""
    parent = SweepRun.create(tracking_uri, "sweeps", "bayes-sweep", {names.SWEEP_TAG: "bayes"}, {})
    made = parent.create_trials([0, 1], PARAMS[:2])  # the store made these before the connection broke
    again = parent.create_trials([0, 1, 2], PARAMS[:3], again=True)
    assert again[0] == made[0] and again[1] == made[1] and again[2] not in made.values()
    found = runs.child_runs(get_client(tracking_uri), parent.experiment_id, parent.run_id)
    assert sorted(runs.trial_number(r) for r in found) == [0, 1, 2]
    assert json.loads(get_client(tracking_uri).get_run(again[2]).data.tags[names.TRIAL_PARAMS_TAG]) == PARAMS[2]
