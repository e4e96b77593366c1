"""Reading the run record back from a real SQLite store: one mapping from run to trial state, the paged
child query."""

from __future__ import annotations

import pytest
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

from pipeline.objective import OBJECTIVE_KEY, PRUNED_VALUE_KEY
from pipeline.tracking import names, runs


@pytest.fixture
def store(tracking_uri):
    client = MlflowClient(tracking_uri)
    exp = client.create_experiment("record")
    parent = client.create_run(exp, tags={names.SWEEP_TAG: "random"}).info.run_id
    return client, exp, parent


def child(client, exp, parent, number, status=None, metrics=None, tags=None):
    run = client.create_run(exp, tags={names.PARENT_RUN_TAG: parent, names.TRIAL_NUMBER_TAG: str(number),
                                       **(tags or {})})
    rid = run.info.run_id
    if metrics:
        client.log_batch(rid, metrics=[Metric(k, v, 0, 0) for k, v in metrics.items()])
    if status:
        client.set_terminated(rid, status)
    return client.get_run(rid)


@pytest.mark.parametrize("status, metrics, tags, state, value", [
    ("FINISHED", {OBJECTIVE_KEY: 0.9}, {}, "complete", 0.9),
    ("FINISHED", {}, {}, "complete", None),  # ended normally without an objective: complete, no value
    ("FAILED", {OBJECTIVE_KEY: 0.9}, {}, "failed", None),
    ("KILLED", {}, {}, "interrupted", None),
    (None, {}, {}, "running", None),
    ("FINISHED", {PRUNED_VALUE_KEY: 0.4, OBJECTIVE_KEY: 0.7}, {names.PRUNED_TAG: "true"}, "pruned", 0.4),
    ("FINISHED", {OBJECTIVE_KEY: 0.7}, {names.TRIAL_STATE_TAG: "pruned"}, "pruned", 0.7),
])
def test_one_mapping_from_run_to_trial_state(store, status, metrics, tags, state, value):
    client, exp, parent = store
    run = child(client, exp, parent, 0, status, metrics, tags)
    assert runs.trial_state(run) == state
    assert runs.trial_value(run, state) == value


def test_value_under_another_objective_key(store):
    client, exp, parent = store
    run = child(client, exp, parent, 0, "FINISHED", {"val_rmse": 3.5})
    assert runs.trial_value(run, "complete", "val_rmse") == 3.5 and runs.trial_value(run, "complete") is None
    assert runs.objective_key({}) == OBJECTIVE_KEY
    assert runs.objective_key({names.OBJECTIVE_KEY_TAG: "val_rmse"}) == "val_rmse"


def test_child_query_follows_every_page_and_only_this_parent(store):
    client, exp, parent = store
    other = client.create_run(exp).info.run_id
    for k in range(5):
        child(client, exp, parent, k, "FINISHED")
    child(client, exp, other, 99, "FINISHED")
    found = runs.child_runs(client, exp, parent, page_size=2)
    assert sorted(runs.trial_number(r) for r in found) == [0, 1, 2, 3, 4]
    assert len(runs.child_runs(client, exp, other)) == 1


def test_trial_number_default(store):
    client, exp, parent = store
    run = client.get_run(client.create_run(exp).info.run_id)
    assert runs.trial_number(run) == -1 and runs.trial_number(run, 7) == 7


def test_running_trial_runs_finds_only_the_numbers_asked_that_still_run(store):
    client, exp, parent = store
    child(client, exp, parent, 0)
    child(client, exp, parent, 1)
    child(client, exp, parent, 2, "FINISHED")
    found = runs.running_trial_runs(client, exp, parent, [1, 2])
    assert [runs.trial_number(r) for r in found] == [1]
