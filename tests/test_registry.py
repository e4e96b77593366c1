"""The best trial's refit model in the Model Registry: registered, aliased, and its test score reproduced.

The sweep is real but run in this process to stay fast: a ``SweepRun`` parent and the real
``run_trial`` for each trial (one diverges and fails), as the sweeper's launcher would run them.
"""

from __future__ import annotations

import json
import logging

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from pipeline.errors import NonFiniteLossError
from pipeline.registry import register_best
from pipeline.report import generate_report
from pipeline.sweep_tracking import SweepRun, TrialRecord, best_record

pytestmark = pytest.mark.slow
NAME = "digits-champion"
FAST = ["trainer.epochs=3", "cv.folds=2", "data.subset=300", "trainer.batch_size=32", "optimizer=sgd", "trainer.num_threads=1",
        "regularization.early_stopping.patience=0", "tracking.experiment=registry"]


def train_sweep(uri: str, lrs: list[float], extra: tuple[str, ...] = ()) -> str:
    """A grid sweep over ``optimizer.lr`` run with the real trial code; returns the parent run id."""
    from pipeline.reproduce import compose
    from pipeline.trial import run_trial

    space = {"optimizer.lr": ",".join(map(str, lrs))}
    parent = SweepRun.create(uri, "registry", "grid-sweep", {"sweep.strategy": "grid", "sweep.direction": "maximize",
                                                            "sweep.space": json.dumps(space),
                                                            "sweep.n_trials": str(len(lrs))}, {})
    records = []
    for k, lr in enumerate(lrs):
        params = {"optimizer.lr": lr}
        parent.tracker.set_tags({f"trial.{k}.params": json.dumps(params)})
        overrides = [*FAST, *extra, f"tracking.uri={uri}", f"optimizer.lr={lr}",
                     f"tracking.parent_run_id={parent.run_id}", f"tracking.trial_number={k}"]
        try:
            result = run_trial(compose(overrides), overrides, job={"name": "train", "num": k})
            records.append(TrialRecord(k, params, "complete", result.objective, run_id=result.run_id))
        except NonFiniteLossError as e:
            records.append(TrialRecord(k, params, "failed", error=str(e)))
    parent.finish(records, best_record(records, "maximize"), {})
    return parent.run_id


@pytest.fixture(scope="module")
def sweep(tmp_path_factory, store_template):
    from tests.conftest import fresh_store

    uri = fresh_store(store_template, tmp_path_factory.mktemp("registry"))
    pid = train_sweep(uri, [1e12, 0.05, 0.01])
    return uri, pid, register_best(uri, pid, NAME)


def test_champion_loads_back_and_reproduces_its_test_score(sweep):
    from pipeline.reproduce import compose, recorded_overrides
    from tests.conftest import score_served

    uri, pid, version = sweep
    client = MlflowClient(uri)
    mv = client.get_model_version_by_alias(NAME, "champion")
    assert version == str(mv.version) == "1" and mv.run_id == client.get_run(pid).data.tags["best.run_id"]
    mlflow.set_tracking_uri(uri)
    model = mlflow.pytorch.load_model(f"models:/{NAME}@champion")
    scores = score_served(model, compose(recorded_overrides(client.get_run(mv.run_id))).data)
    assert scores["accuracy"] == float(mv.tags["test_accuracy"])
    assert scores["loss"] == pytest.approx(float(mv.tags["test_loss"]), rel=1e-6)
    assert scores["f1_macro"] == pytest.approx(float(mv.tags["test_f1_macro"]), rel=1e-6)


def test_only_the_best_trial_gets_a_logged_model(sweep):
    """``tracking.log_model=auto``: trials of a sweep log checkpoints only; the best one's model is built at the end."""
    uri, pid, _ = sweep
    client = MlflowClient(uri)
    best = client.get_run(pid).data.tags["best.run_id"]
    exp = client.get_run(best).info.experiment_id
    models = client.search_logged_models([exp])
    assert [m.source_run_id for m in models] == [best]
    assert models[0].artifact_location.startswith(client.get_experiment(exp).artifact_location)


def test_log_model_false_is_respected(tmp_path, new_store):
    uri = new_store(tmp_path)
    pid = train_sweep(uri, [0.05], extra=("tracking.log_model=false",))
    assert register_best(uri, pid, "never") is None


def test_version_carries_scores_and_provenance(sweep):
    uri, pid, _ = sweep
    client = MlflowClient(uri)
    mv = client.get_model_version(NAME, "1")
    best = client.get_run(mv.run_id)
    for key in ("cv_mean", "cv_std", "test_accuracy", "test_loss"):
        assert float(mv.tags[key]) == best.data.metrics[key], key
    assert mv.tags["sweep.parent_run_id"] == pid and mv.tags["objective.metric"] == "val_accuracy"
    assert float(mv.tags["selection_gap"]) == pytest.approx(best.data.metrics["cv_mean"] - best.data.metrics[
        "test_accuracy"])
    assert "held-out test test_accuracy" not in mv.description and "held-out test accuracy" in mv.description
    tags = client.get_run(pid).data.tags
    assert (tags["registered_model.name"], tags["registered_model.version"], tags["registered_model.alias"]) == (
        NAME, "1", "champion")


def test_registering_again_moves_the_alias(sweep):
    uri, pid, _ = sweep
    assert register_best(uri, pid, NAME, alias="staging") == "2"
    client = MlflowClient(uri)
    assert str(client.get_model_version_by_alias(NAME, "staging").version) == "2"
    assert str(client.get_model_version_by_alias(NAME, "champion").version) == "1"


def test_report_on_the_real_partly_failed_sweep(sweep):
    uri, pid, _ = sweep
    report = generate_report(uri, pid)
    mv = MlflowClient(uri).get_model_version(NAME, "1")
    assert report["selection_gap"] == pytest.approx(float(mv.tags["cv_mean"]) - float(mv.tags["test_accuracy"]))
    assert "report/learning_curves.png" in report["artifacts"] and report["importance"] == {}  # 2 complete < 3
    names = {a.path for a in MlflowClient(uri).list_artifacts(pid, "report")}
    assert {"report/report.html", "report/optimization_history.png", "report/slice_optimizer.lr.png"} <= names


def test_no_model_no_registration(tmp_path, new_store, caplog):
    uri = new_store(tmp_path)
    pid = train_sweep(uri, [0.05], extra=("cv.refit=false",))
    with caplog.at_level(logging.INFO, logger="pipeline.registry"):
        assert register_best(uri, pid, "never") is None
    assert "has no model" in caplog.text
    assert MlflowClient(uri).search_registered_models() == []


def test_no_complete_trial_no_registration(tmp_path, new_store):
    from tests.insights.test_history import build_sweep, trial

    uri = new_store(tmp_path)
    assert register_best(uri, build_sweep(uri, [trial(1e12, 16, "failed")]), NAME) is None
    with pytest.raises(ValueError):
        register_best(uri, "whatever", "")
