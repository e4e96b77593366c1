"""The run record on a real SQLite store: one mapping from run to trial state, the paged child query,
and the ``trial.<k>.params`` codec."""

from __future__ import annotations

import json

import pytest
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

from pipeline.objective import OBJECTIVE_KEY, PRUNED_VALUE_KEY
from pipeline.tracking import names as rr


@pytest.fixture
def store(tracking_uri):
    client = MlflowClient(tracking_uri)
    exp = client.create_experiment("record")
    parent = client.create_run(exp, tags={rr.SWEEP_TAG: "random"}).info.run_id
    return client, exp, parent


def child(client, exp, parent, number, status=None, metrics=None, tags=None):
    run = client.create_run(exp, tags={rr.PARENT_RUN_TAG: parent, rr.TRIAL_NUMBER_TAG: str(number), **(tags or {})})
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
    ("FINISHED", {PRUNED_VALUE_KEY: 0.4, OBJECTIVE_KEY: 0.7}, {rr.PRUNED_TAG: "true"}, "pruned", 0.4),
    ("FINISHED", {OBJECTIVE_KEY: 0.7}, {rr.TRIAL_STATE_TAG: "pruned"}, "pruned", 0.7),
])
def test_one_mapping_from_run_to_trial_state(store, status, metrics, tags, state, value):
    client, exp, parent = store
    run = child(client, exp, parent, 0, status, metrics, tags)
    assert rr.trial_state(run) == state
    assert rr.trial_value(run, state) == value


def test_value_under_another_objective_key(store):
    client, exp, parent = store
    run = child(client, exp, parent, 0, "FINISHED", {"val_rmse": 3.5})
    assert rr.trial_value(run, "complete", "val_rmse") == 3.5 and rr.trial_value(run, "complete") is None
    assert rr.objective_key({}) == OBJECTIVE_KEY and rr.objective_key({rr.OBJECTIVE_KEY_TAG: "val_rmse"}) == "val_rmse"


def test_child_query_follows_every_page_and_only_this_parent(store):
    client, exp, parent = store
    other = client.create_run(exp).info.run_id
    for k in range(5):
        child(client, exp, parent, k, "FINISHED")
    child(client, exp, other, 99, "FINISHED")
    runs = rr.child_runs(client, exp, parent, page_size=2)
    assert sorted(rr.trial_number(r) for r in runs) == [0, 1, 2, 3, 4]
    assert len(rr.child_runs(client, exp, other)) == 1


def test_trial_number_default(store):
    client, exp, parent = store
    run = client.get_run(client.create_run(exp).info.run_id)
    assert rr.trial_number(run) == -1 and rr.trial_number(run, 7) == 7


def test_launched_params_codec_round_trips_and_skips_clipped_tags():
    params = [{"optimizer.lr": 0.01, "model": "cnn"}, {"optimizer.lr": 1e-4, "model": "mlp"}]
    tags = rr.launched_tags([3, 4], params)
    assert set(tags) == {"trial.3.params", "trial.4.params"} and json.loads(tags["trial.3.params"]) == params[0]
    tags.update({"trial.5.params": '{"optimizer.lr": 0.0...', "trial.x.params": "{}", "sweep.space": "{}"})
    assert rr.launched_params(tags) == {3: params[0], 4: params[1]}


def test_rerun_codec():
    tags = rr.rerun_tags([(2, 7), (3, 8)])
    assert tags == {"trial.2.rerun_as": "7", "trial.3.rerun_as": "8"}
    assert rr.rerun_numbers({**tags, "trial.2.params": "{}"}) == {2, 3}
