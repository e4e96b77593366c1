"""What the sweeper makes of each launched trial's return value, and the runs it writes for foreign apps."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
from hydra.core.utils import JobReturn, JobStatus
from mlflow.tracking import MlflowClient

from hydra_plugins.pipeline_sweeper._trials import missing_runs, outcome, record_runs, result_text
from pipeline.tracking import names, runs
from pipeline.tracking.store import get_client
from pipeline.tracking.sweep_run import SweepRun, TrialRecord
from pipeline.tracking.tracker import Tracker


def returned(value=None, error: BaseException | None = None) -> JobReturn:
    ret = JobReturn()
    ret.status = JobStatus.FAILED if error else JobStatus.COMPLETED
    ret._return_value = error if error else value
    return ret


@pytest.mark.parametrize("value, objective, state, expected", [
    (0.25, None, "complete", 0.25),
    (3, None, "complete", 3.0),
    (None, None, "complete", None),  # completed without a value
    ({"loss": 0.5, "acc": 0.9}, "loss", "complete", 0.5),
    ({"pruned": True, "value": 0.7}, None, "pruned", 0.7),
    ({"pruned": True, "value": 0.7}, "loss", "pruned", 0.7),
    ({"loss": None}, "loss", "complete", None),
    ({"value": 0.9, "run_id": "r1"}, None, "complete", 0.9),  # the trial protocol: its value and its run
])
def test_values_the_task_can_return(value, objective, state, expected):
    record = outcome(returned(value), {"x": 1}, 4, 0.0, objective)
    assert (record.number, record.params, record.state, record.value, record.error) == (4, {"x": 1}, state, expected,
                                                                                        "")


@pytest.mark.parametrize("value, objective, message", [
    ("high", None, "the task returned 'high', expected a finite number or None"),
    (math.nan, None, "the task returned nan"),
    (math.inf, None, "the task returned inf"),
    (True, None, "the task returned True"),
    ({"loss": 0.5}, None, "set hydra.sweeper.objective"),
    ({"loss": 0.5}, "acc", "without 'acc'; its keys: ['loss']"),
    (0.5, "loss", "hydra.sweeper.objective='loss' but the task returned 0.5, not a mapping"),
    ({"pruned": True}, None, "without 'value'"),
])
def test_values_that_fail_the_trial_say_why(value, objective, message):
    record = outcome(returned(value), {}, 0, 0.0, objective)
    assert record.state == "failed" and record.value is None and message in record.error


def test_a_raising_task_fails_with_its_exception():
    record = outcome(returned(error=ValueError("bad lr")), {}, 1, 0.0, None)
    assert record.state == "failed" and record.error == "ValueError: bad lr"


def test_numbers_of_a_returned_mapping_are_kept_as_metrics():
    record = outcome(returned({"loss": 0.5, "acc": 1, "note": "x", "flag": True}), {}, 0, 0.0, "loss")
    assert record.metrics == {"loss": 0.5, "acc": 1.0}


def test_runs_written_for_an_app_that_logs_nothing(tracking_uri):
    client = MlflowClient(tracking_uri)
    exp = client.create_experiment("foreign")
    parent = client.create_run(exp).info.run_id
    records = [TrialRecord(0, {"x": 0.1}, "complete", 0.25, metrics={"acc": 0.9}),
               TrialRecord(1, {"x": 0.9}, "failed", None, error="RuntimeError: x too large"),
               TrialRecord(2, {"x": 0.5}, "complete", None)]
    overrides = [["db.url=http://bob:pw@h", "x=0.1"], ["x=0.9", "+extra=1", "~gone"], ["x=0.5"]]
    launch = SimpleNamespace(numbers=[0, 1, 2], overrides=overrides, started_ms=1000)
    sweep = SweepRun(Tracker(get_client(tracking_uri), parent, tracking_uri))
    created = sweep.create_trials([0, 1], [records[0].params, records[1].params])  # at launch
    record_runs(sweep, [records[0], records[2], records[1]], launch, "loss", created)  # in any order
    found = {runs.trial_number(r): r for r in runs.child_runs(client, exp, parent)}
    assert sorted(found) == [0, 1, 2] and all(r.run_id == found[r.number].info.run_id for r in records)
    assert [found[k].info.run_id for k in (0, 1)] == [created[0], created[1]]  # the runs made at launch, filled
    first, failed, empty = found[0], found[1], found[2]
    assert first.info.status == "FINISHED" and first.data.metrics == {"loss": 0.25, "acc": 0.9}
    assert first.data.params == {"db.url": "http://***@h", "x": "0.1"} and first.info.run_name == "trial-000 0.25"
    assert "pw" not in first.data.tags[names.OVERRIDES_TAG] and names.launched_run_params(first.data.tags) == {"x": 0.1}
    assert empty.info.start_time == 1000  # made at the end, dated at its launch
    assert failed.info.status == "FAILED" and failed.data.tags[names.ERROR_TAG] == "RuntimeError: x too large"
    assert failed.info.run_name == "trial-001 failed" and empty.info.run_name == "trial-002"
    assert failed.data.params == {"x": "0.9", "extra": "1"} and failed.data.tags[names.TRIAL_STATE_TAG] == "failed"
    assert runs.trial_state(empty) == "complete" and runs.trial_value(empty, "complete", "loss") is None


def test_missing_runs_ignore_trials_that_failed_before_logging():
    records = [TrialRecord(0, {}, "complete", 1.0), TrialRecord(1, {}, "failed"), TrialRecord(2, {}, "pruned", 0.5)]
    assert missing_runs(records, {0: "a"}) == [2]
    assert missing_runs(records, {0: "a", 2: "c"}) == []


def test_the_progress_line_gives_a_failed_trials_whole_first_line():
    error = "DataError: dataset 'mnist' not found under data.root='/data': " + "x" * 300 + "\nsecond line"
    assert result_text(TrialRecord(0, {}, "failed", error=error)) == "failed: " + error.splitlines()[0]
    assert result_text(TrialRecord(1, {}, "pruned", value=0.25)) == "pruned at 0.25"
    assert result_text(TrialRecord(2, {}, "complete")) == "complete, no value"
