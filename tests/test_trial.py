"""A real trial on digits logged to a temporary SQLite store: everything a practitioner compares."""

from __future__ import annotations

import json
import math
from pathlib import Path

import mlflow
import pytest
import torch
from mlflow.tracking import MlflowClient

from pipeline import objective
from pipeline.errors import NonFiniteLossError
from pipeline.results.reproduce import main as reproduce_main
from pipeline.tracking import names
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
        if key not in names.TIMING_METRICS:  # measured figures of the machine (train_seconds, latency_ms, ...)
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


MLP_FLOPS = 2 * (64 * 128 + 128 * 128 + 128 * 10)  # the default mlp on digits: 2 per multiply-add, per sample


def logged_value(name: str, metrics: dict[str, float]) -> float:
    """Where the run holds a returned value: a metric's cross-validated mean, a cost under its own name."""
    return metrics[objective.metric(name).cv_mean_key if name in objective.METRICS else name]


def test_the_trial_returns_and_logs_every_value_a_sweep_can_optimise(logged):
    result, run, _ = logged
    returned, m = result.for_sweeper(), run.data.metrics
    assert returned["value"] == result.objective and returned["run_id"] == run.info.run_id
    for name in objective.trial_values("classification"):
        assert math.isfinite(returned[name]) and returned[name] == logged_value(name, m), name
    assert returned["val_accuracy"] == m["cv_val_accuracy_mean"] == m["cv_mean"]
    assert returned["n_params"] == m["n_params"] and returned["flops"] == MLP_FLOPS
    assert returned["latency_ms"] > 0 and returned["peak_memory_mb"] > 0 and returned["train_seconds"] > 0
    t = run.data.tags
    assert (t["cost.device"], t["cost.batch_size"], t["cost.memory"]) == ("cpu", "64", "process peak RSS")


def test_every_metric_of_the_task_is_cross_validated_at_each_folds_best_epoch(logged, store):
    _, run, _ = logged
    m, client = run.data.metrics, MlflowClient(store)
    for name in objective.TASKS["classification"]:
        metric = objective.metric(name)
        at_best = []
        for k in range(2):
            best = int(m[f"fold_{k}/best_epoch"])
            history = client.get_metric_history(run.info.run_id, f"fold_{k}/{name}")
            at_best += [h.value for h in history if h.step == best]
        assert m[metric.cv_mean_key] == pytest.approx(sum(at_best) / 2), name
        assert m[metric.cv_std_key] == pytest.approx(abs(at_best[0] - at_best[1]) / 2), name


def test_without_a_refit_the_costs_are_those_of_a_freshly_built_model(store):
    from pipeline.results.reproduce import compose

    overrides = [*TINY, f"tracking.uri={store}", "cv.refit=false", "trainer.epochs=1",
                 "tracking.run_name=no-refit"]
    returned = run_trial(compose(overrides), overrides).for_sweeper()
    assert returned["flops"] == MLP_FLOPS and returned["latency_ms"] > 0
    assert all(math.isfinite(returned[name]) for name in objective.trial_values("classification"))


def test_a_pruned_trial_returns_its_size_and_flops_but_no_latency(store):
    from pipeline.data import load_data
    from pipeline.pruning.reporter import TrialPruned
    from pipeline.results.reproduce import compose
    from pipeline.tracking.tracker import Tracker
    from pipeline.trial import _record_pruned

    cfg = compose([*TINY, f"tracking.uri={store}"])
    tracker = Tracker.start(store, "pruned", "pruned")
    result = _record_pruned(cfg, load_data(cfg.data), torch.device("cpu"), tracker, TrialPruned(2, 0.5, 0, 2))
    tracker.finish()
    returned = result.for_sweeper()
    assert returned == {"pruned": True, "value": 0.5, "run_id": "", "n_params": 64 * 128 + 128 + 128 * 128 + 128
                        + 128 * 10 + 10, "flops": MLP_FLOPS}
    m = MlflowClient(store).get_run(tracker.run_id).data.metrics
    assert m["n_params"] == returned["n_params"] and m["flops"] == MLP_FLOPS and "latency_ms" not in m
