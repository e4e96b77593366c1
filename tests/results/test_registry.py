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
from pipeline.objective import direction
from pipeline.results.registry import EXIT_NOT_FINISHED, SweepNotFinished, main, register_best
from pipeline.results.report import generate_report
from pipeline.tracking.names import TrialState
from pipeline.tracking.sweep_run import SweepRun, TrialRecord, best_record

pytestmark = pytest.mark.slow
NAME = "digits-champion"
FAST = ["trainer.epochs=3", "cv.folds=2", "data.subset=300", "trainer.batch_size=32", "optimizer=sgd",
        "trainer.num_threads=1",
        "regularization.early_stopping.patience=0", "tracking.experiment=registry"]


def train_sweep(uri: str, lrs: list[float], extra: tuple[str, ...] = (), status: str = "FINISHED",
                metric: str = "val_accuracy") -> str:
    """A grid sweep over ``optimizer.lr`` run with the real trial code, its parent ended with ``status``;
    returns the parent run id."""
    from pipeline.results.reproduce import compose
    from pipeline.trial import run_trial

    space = {"optimizer.lr": ",".join(map(str, lrs))}
    extra = (*extra, f"cv.metric={metric}")
    parent = SweepRun.create(uri, "registry", "grid-sweep", {"sweep.strategy": "grid",
                                                            "sweep.direction": direction(metric),
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
    parent.finish(records, best_record(records, direction(metric)), {}, TrialState.of_status(status))
    return parent.run_id


@pytest.fixture(scope="module")
def sweep(tmp_path_factory, store_template):
    from tests.conftest import fresh_store

    uri = fresh_store(store_template, tmp_path_factory.mktemp("registry"))
    pid = train_sweep(uri, [1e12, 0.05, 0.01])
    return uri, pid, register_best(uri, pid, NAME)


def test_champion_loads_back_and_reproduces_its_test_score(sweep):
    from pipeline.results.reproduce import compose, recorded_overrides
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
    assert (mv.tags["objective.key"], mv.tags["objective.direction"]) == ("cv_mean", "maximize")
    assert float(mv.tags["objective.value"]) == best.data.metrics["cv_mean"]
    assert mv.tags["data.target"] == "pipeline.data.digits"
    assert json.loads(mv.tags["data.params"]) == {"subset": 300, "test_fraction": 0.2, "seed": 0}
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
    with caplog.at_level(logging.INFO, logger="pipeline.results.registry"):
        assert register_best(uri, pid, "never") is None
    assert "has no model" in caplog.text
    assert MlflowClient(uri).search_registered_models() == []


def test_no_complete_trial_no_registration(tmp_path, new_store):
    from tests.results.insights.test_history import build_sweep, trial

    uri = new_store(tmp_path)
    assert register_best(uri, build_sweep(uri, [trial(1e12, 16, "failed")]), NAME) is None
    with pytest.raises(ValueError):
        register_best(uri, "whatever", "")


# -- the alias policy over successive sweeps (real trials, one store) -------------------------------
def alias_holder(uri: str, name: str, alias: str = "champion") -> str:
    return str(MlflowClient(uri).get_model_version_by_alias(name, alias).version)


def test_the_alias_moves_only_for_a_better_finished_sweep(tmp_path, new_store, caplog):
    uri, name = new_store(tmp_path), "policy"
    caplog.set_level(logging.INFO, logger="pipeline.results.registry")
    assert register_best(uri, train_sweep(uri, [0.01]), name) == "1" and alias_holder(uri, name) == "1"
    assert "version 1 (cv_mean" in caplog.text and "takes @champion (no version held it)" in caplog.text

    better = train_sweep(uri, [0.05])  # better: takes the alias, says from whom and by how much
    assert register_best(uri, better, name) == "2" and alias_holder(uri, name) == "2"
    client = MlflowClient(uri)
    v1, v2 = (float(client.get_model_version(name, v).tags["objective.value"]) for v in ("1", "2"))
    assert v2 > v1 and f"takes @champion from version 1 ({v1:.4f}, +{v2 - v1:.4f})" in caplog.text
    assert client.get_run(better).data.tags["registered_model.alias"] == "champion"

    worse = train_sweep(uri, [0.002])  # worse: registered as a version, the alias stays
    assert register_best(uri, worse, name) == "3" and alias_holder(uri, name) == "2"
    v3 = float(client.get_model_version(name, "3").tags["objective.value"])
    line = f"Model registry: version 2 (cv_mean {v2:.4f}) stays @champion over version 3 ({v3:.4f}, {v3 - v2:+.4f})"
    assert caplog.records[-1].getMessage() == line
    assert client.get_run(worse).data.tags["registered_model.decision"] == line
    assert "registered_model.alias" not in client.get_run(worse).data.tags

    for status in ("KILLED", "FAILED"):  # an interrupted or failed sweep registers nothing, even when better
        stopped = train_sweep(uri, [0.05], extra=("optimizer.momentum=0.9",), status=status)
        with pytest.raises(SweepNotFinished, match=f"sweep {stopped} ended {status}: nothing registered"):
            register_best(uri, stopped, name)
        assert alias_holder(uri, name) == "2" and len(client.search_model_versions(f"name='{name}'")) == 3

    other = train_sweep(uri, [0.05], metric="val_loss")  # another objective: not comparable, does not take it
    assert register_best(uri, other, name) == "4" and alias_holder(uri, name) == "2"
    assert caplog.records[-1].getMessage().endswith(
        "does not take @champion from version 2: judged on cv_mean of val_loss (minimize) on pipeline.data.digits "
        '{"seed": 0, "subset": 300, "test_fraction": 0.2}, version 2 on cv_mean of val_accuracy (maximize) on '
        'pipeline.data.digits {"seed": 0, "subset": 300, "test_fraction": 0.2}')


def test_the_command_refuses_an_unfinished_sweep_in_one_line(tmp_path, new_store, caplog):
    uri = new_store(tmp_path)
    killed = train_sweep(uri, [0.05], status="KILLED")
    caplog.set_level(logging.INFO, logger="pipeline.results.registry")
    assert main([killed, "--tracking-uri", uri, "--name", "cmd"]) == EXIT_NOT_FINISHED
    assert [r.getMessage() for r in caplog.records if r.name == "pipeline.results.registry"] == [
        f"Model registry: sweep {killed} ended KILLED: nothing registered, @champion not moved"]
    assert MlflowClient(uri).search_registered_models() == []


def test_a_finished_parent_with_a_trial_that_never_ended_is_refused(tmp_path, new_store):
    uri = new_store(tmp_path)
    pid = train_sweep(uri, [0.05])
    MlflowClient(uri).set_tag(pid, "trial.1.params", json.dumps({"optimizer.lr": 0.01}))  # launched, no run
    with pytest.raises(SweepNotFinished, match=r"trials \[1\] never ended"):
        register_best(uri, pid, NAME)


# -- the registered model as a user loads it -----------------------------------------------------
def test_champion_has_a_signature_an_input_example_and_takes_flat_and_image_batches(sweep):
    import numpy as np

    from pipeline.data import load_data
    from pipeline.results.reproduce import compose, recorded_overrides

    uri, _, _ = sweep
    mlflow.set_tracking_uri(uri)
    model = mlflow.pyfunc.load_model(f"models:/{NAME}@champion")
    assert model.metadata.signature is not None
    assert model.metadata.signature.outputs.inputs[0].shape == (-1, 10)
    assert model.input_example.shape == (2, 1, 8, 8)
    run = MlflowClient(uri).get_run(MlflowClient(uri).get_model_version_by_alias(NAME, "champion").run_id)
    images = load_data(compose(recorded_overrides(run)).data).test.X[:7].numpy()
    assert images.shape == (7, 1, 8, 8)
    expected = model.predict(images)
    for batch in (images.reshape(7, 64), images.reshape(7, 8, 8), images.astype(np.float64)):
        assert np.allclose(model.predict(batch), expected, atol=1e-6)
    with pytest.raises(ValueError, match=r"^input of shape \(7, 63\) does not fit this model: expected "
                                         r"\(N, 1, 8, 8\), \(N, 64\) or \(N, 8, 8\)$"):
        model.predict(images.reshape(7, 64)[:, :63])


# -- the decision itself: a table over what the two versions recorded --------------------------------
def standing(version="9", value=0.9408, direction="maximize", metric="val_accuracy", data="digits {}", key="cv_mean"):
    from pipeline.results.registry import Standing

    return Standing(version, key, metric, direction, data, value)


@pytest.mark.parametrize(("holder", "new", "takes", "line"), [
    (None, standing(), True, "version 9 (cv_mean 0.9408) takes @champion (no version held it)"),
    (standing("7", 0.9784), standing(), False,
     "version 7 (cv_mean 0.9784) stays @champion over version 9 (0.9408, -0.0376)"),
    (standing("7", 0.9408), standing(), False, "stays @champion over version 9 (0.9408, +0.0000)"),  # a tie keeps it
    (standing("7", 0.9), standing(), True,
     "version 9 (cv_mean 0.9408) takes @champion from version 7 (0.9000, +0.0408)"),
    (standing("7", 0.5, "minimize", "val_loss"), standing("9", 0.3, "minimize", "val_loss"), True,
     "takes @champion from version 7 (0.5000, -0.2000)"),
    (standing("7", 0.3, "minimize", "val_loss"), standing("9", 0.5, "minimize", "val_loss"), False,
     "stays @champion over version 9 (0.5000, +0.2000)"),
    (standing("7", 0.9), standing("9", 0.95, data="digits {\"subset\": 300}"), False,
     "does not take @champion from version 7: judged on cv_mean of val_accuracy (maximize) on digits {\"subset\": "
     "300}, version 7 on cv_mean of val_accuracy (maximize) on digits {}"),
    (standing("7", 0.9), standing("9", 0.95, key="accuracy"), False, "judged on accuracy of val_accuracy"),
    (standing("7", None, direction="", data=""), standing(), False,
     "does not take @champion: its holder, version 7, does not record the objective"),
])
def test_the_alias_decision(holder, new, takes, line):
    from pipeline.results.registry import decide

    took, text = decide(new, holder, "champion")
    assert took is takes and text.startswith("Model registry: ") and line in text and "\n" not in text
