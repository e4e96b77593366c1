"""A real sweep with pruning through ``python train.py -m``, trials running in 2 parallel joblib workers."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest
import yaml
from mlflow.tracking import MlflowClient

from pipeline.tracking.names import INTERMEDIATE
from tests.conftest import SWEEP_FAST, fresh_store, run_train, sweep_runs

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("strategy", ["bayes", "evolution"])
def test_median_pruning_with_two_parallel_workers(tmp_path, store_template, strategy):
    uri = fresh_store(store_template, tmp_path)
    evolution = ["hydra.sweeper.population=3", "hydra.sweeper.sample_size=2"] if strategy == "evolution" else []
    proc = run_train(["-m", *SWEEP_FAST, "trainer.epochs=4", f"tracking.uri={uri}", f"hydra/sweeper={strategy}",
                      *evolution,
                      "optimizer.lr=tag(log, interval(1e-5, 1e-1))", "hydra/launcher=joblib",
                      "hydra.launcher.n_jobs=2", "hydra.sweeper.n_jobs=2", "hydra.sweeper.n_trials=8",
                      "hydra.sweeper.pruner=median", "hydra.sweeper.n_startup_trials=2",
                      "hydra.sweeper.n_warmup_steps=1", f"hydra.sweep.dir={tmp_path / 'sweep'}"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    parent, children = sweep_runs(uri)
    pruned = [c for c in children if c.data.tags.get("trial.pruned") == "true"]
    complete = [c for c in children if c.data.tags.get("trial.state") == "complete"]
    assert pruned, "a wide learning-rate range over 4 epochs should give trials worth pruning"
    assert len(pruned) + len(complete) == 8
    client = MlflowClient(uri)
    for run in pruned:
        assert run.info.status == "FINISHED" and "cv_mean" not in run.data.metrics
        steps = [m.step for m in client.get_metric_history(run.info.run_id, INTERMEDIATE)]
        assert max(steps) == int(run.data.metrics["pruned_step"])  # the curve is kept up to the pruning step
        assert client.get_metric_history(run.info.run_id, "fold_0/val_accuracy")
    assert parent.data.metrics["n_pruned"] == len(pruned)
    assert parent.data.tags["best.run_id"] in {c.info.run_id for c in complete}
    folder = mlflow.artifacts.download_artifacts(run_id=parent.info.run_id, tracking_uri=uri)
    results = yaml.safe_load(Path(folder, "optimization_results.yaml").read_text())
    assert results["n_trials"] == {"complete": len(complete), "pruned": len(pruned), "failed": 0}
    assert "pruned at" in proc.stdout + proc.stderr
    if strategy == "evolution":  # children of told trials, pruned ones among the possible parents
        assert sum("trial.mutated_from" in c.data.tags for c in children) >= 3
