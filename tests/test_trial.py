"""A real trial on digits logged to a temporary SQLite store: everything a practitioner compares."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pytest
import torch
from mlflow.tracking import MlflowClient

from pipeline.errors import NonFiniteLossError
from pipeline.results.reproduce import main as reproduce_main
from pipeline.trial import run_trial
from tests.conftest import TINY

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return f"sqlite:///{tmp_path_factory.mktemp('store') / 'mlflow.db'}"


@pytest.fixture(scope="module")
def logged(store):
    from pipeline.results.reproduce import compose

    overrides = [*TINY, f"tracking.uri={store}", "optimizer.lr=0.003"]
    result = run_trial(compose(overrides), overrides, job={"name": "train", "num": 0})
    return result, MlflowClient(store).get_run(result.run_id), overrides


def test_params_are_the_flattened_config(logged):
    _, run, _ = logged
    p = run.data.params
    assert p["optimizer.lr"] == "0.003" and p["model.hidden_dim"] == "128" and p["cv.folds"] == "2"
    assert p["regularization.early_stopping.patience"] == "0" and p["model.batch_norm"] == "false"


def test_tags_reproduce_the_run(logged, store):
    _, run, overrides = logged
    t = run.data.tags
    assert json.loads(t["hydra.overrides"]) == overrides
    assert t["reproduce.command"].startswith("python train.py trainer.epochs=3")
    assert t["hydra.job.name"] == "train" and t["hydra.job.num"] == "0"
    assert t["mlflow.runName"] == "digits-mlp" and t["objective.metric"] == "val_accuracy"
    exp = MlflowClient(store).get_experiment(run.info.experiment_id)
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"


def test_curves_have_one_step_per_epoch(logged, store):
    _, run, _ = logged
    client = MlflowClient(store)
    for key in ["fold_0/train_loss", "fold_1/val_loss", "fold_1/val_accuracy", "cv/val_loss", "cv/val_accuracy"]:
        steps = sorted(m.step for m in client.get_metric_history(run.info.run_id, key))
        assert steps == [1, 2, 3], key


def test_summary_metrics(logged):
    result, run, _ = logged
    m = run.data.metrics
    assert m["cv_mean"] == pytest.approx((m["fold_0/score"] + m["fold_1/score"]) / 2)
    assert result.objective == m["cv_mean"] and m["cv_std"] >= 0
    assert 0.5 < m["test_accuracy"] <= 1 and m["test_loss"] > 0
    assert m["n_params"] == 64 * 128 + 128 + 128 * 128 + 128 + 128 * 10 + 10
    assert m["train_seconds"] > 0 and m["fold_0/best_epoch"] in (1, 2, 3)
    assert run.info.status == "FINISHED" and run.info.run_name == "digits-mlp"


def test_checkpoints_load_with_weights_only(logged, store):
    _, run, _ = logged
    folder = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, tracking_uri=store)
    for name in ["fold_0.pt", "fold_1.pt", "refit.pt"]:
        ckpt = torch.load(Path(folder, "checkpoints", name), weights_only=True)
        assert ckpt["state_dict"]["1.weight"].shape == (128, 64)
    assert Path(folder, "config.yaml").read_text().count("hidden_dim: 128") == 1
    assert "optimizer.lr=0.003" in Path(folder, "overrides.yaml").read_text()
    models = MlflowClient(store).search_logged_models([run.info.experiment_id])
    assert [(m.name, m.source_run_id) for m in models] == [("model", run.info.run_id)]


def test_logged_model_reproduces_the_test_score(logged, store):
    from pipeline.results.reproduce import compose
    from tests.conftest import score_served

    result, run, overrides = logged
    mlflow.set_tracking_uri(store)
    model = mlflow.pytorch.load_model(f"runs:/{run.info.run_id}/model")
    scores = score_served(model, compose(overrides).data)
    assert scores["accuracy"] == pytest.approx(run.data.metrics["test_accuracy"], abs=1e-9)


def test_same_config_same_metrics_and_reproduce_command(logged, store, capsys):
    result, run, _ = logged
    assert reproduce_main([run.info.run_id, "--tracking-uri", store]) == 0
    out = capsys.readouterr().out
    assert "DIFFERS" not in out and "cv_mean" in out and "test_accuracy" in out
    again = [r for r in MlflowClient(store).search_runs([run.info.experiment_id])
             if r.data.tags.get("reproduces") == run.info.run_id]
    assert len(again) == 1
    for key, value in result.metrics.items():
        if key != "train_seconds":
            assert again[0].data.metrics[key] == value, key


def test_non_finite_loss_fails_the_run(store):
    from pipeline.results.reproduce import compose

    overrides = [*TINY, f"tracking.uri={store}", "optimizer=sgd", "optimizer.lr=1e12",
                 "tracking.run_name=diverges"]
    with pytest.raises(NonFiniteLossError, match="optimizer.lr"):
        run_trial(compose(overrides), overrides)
    [run] = MlflowClient(store).search_runs(
        [MlflowClient(store).get_experiment_by_name("hpo-pipeline").experiment_id],
                                            "tags.mlflow.runName = 'diverges failed'")  # named for how it ended
    assert run.info.status == "FAILED" and "NonFiniteLossError" in run.data.tags["error"]
