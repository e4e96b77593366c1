"""Runs logged by the release before the package was regrouped (``tests/fixtures/release_before_regrouping``):
they record ``_target_: pipeline.models.mlp``, a pickled model made of ``pipeline.models.InputShape`` and
``Normalize``, and are read with the documented commands. Each is still read, reported, reproduced, registered
and loaded."""

from __future__ import annotations

import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from pipeline.tracking.tracker import mlflow_fluent
from tests.conftest import ROOT

pytestmark = pytest.mark.slow

FIXTURE = ROOT / "tests" / "fixtures" / "release_before_regrouping"
WRITTEN_AT = "file:///tmp/oldstore"  # where the old release wrote it; rewritten to the copy's folder
LOCATIONS = [("experiments", "artifact_location"), ("runs", "artifact_uri"), ("logged_models", "artifact_location"),
             ("model_versions", "storage_location")]
EXPERIMENT, MODEL = "old-release", "old-release"


@pytest.fixture
def old_store(tmp_path) -> str:
    """A copy of the old store in ``tmp_path``, its artifact locations pointed at the copy."""
    folder = tmp_path / "oldstore"
    shutil.copytree(FIXTURE, folder, ignore=shutil.ignore_patterns("README.md"))
    with sqlite3.connect(folder / "mlflow.db") as db:
        for table, column in LOCATIONS:
            db.execute(f"UPDATE {table} SET {column} = replace({column}, ?, ?)", (WRITTEN_AT, folder.as_uri()))
    for mlmodel in folder.rglob("MLmodel"):
        mlmodel.write_text(mlmodel.read_text().replace(WRITTEN_AT, folder.as_uri()))
    return f"sqlite:///{folder / 'mlflow.db'}"


def the_sweep(uri: str):
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(EXPERIMENT).experiment_id
    [parent] = client.search_runs([experiment], "tags.`sweep.strategy` = 'random'")
    return client, experiment, parent


def command(module: str, *args: str, uri: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", module, *args, "--tracking-uri", uri], cwd=cwd, capture_output=True,
                          text=True, timeout=600)


def test_the_old_sweep_is_read_and_reported(old_store, tmp_path):
    from pipeline.results.insights.history import load_history

    client, _, parent = the_sweep(old_store)
    history = load_history(old_store, parent.info.run_id)
    assert [t.state for t in history.trials] == ["complete", "complete"] and history.strategy == "random"
    assert history.space.names == ["optimizer.lr"] and history.direction == "maximize" and history.n_planned == 2
    assert history.best.run_id == parent.data.tags["best.run_id"]
    done = command("pipeline.report", parent.info.run_id, "--out", str(tmp_path / "report"), uri=old_store,
                   cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "2 complete" in done.stdout and (tmp_path / "report" / "report.html").stat().st_size > 100_000
    assert "report/report.html" in {a.path for a in client.list_artifacts(parent.info.run_id, "report")}


def test_the_old_champion_loads_and_predicts(old_store):
    _, experiment, _ = the_sweep(old_store)
    with mlflow_fluent(old_store, experiment):
        model = mlflow.pyfunc.load_model(f"models:/{MODEL}@champion")  # pickled with pipeline.models.InputShape
        scores = model.predict(np.zeros((3, 1, 8, 8), dtype=np.float32))
    assert scores.shape == (3, 10) and np.isfinite(scores).all()


def test_the_old_sweep_registers_again_and_its_trial_reproduces(old_store, tmp_path):
    client, _, parent = the_sweep(old_store)
    done = command("pipeline.registry", parent.info.run_id, "--name", MODEL, uri=old_store, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    versions = client.search_model_versions(f"name='{MODEL}'")
    assert sorted(int(v.version) for v in versions) == [1, 2]
    assert "stays @champion" in done.stdout + done.stderr  # the same trial again: not better, the alias stays
    best = parent.data.tags["best.run_id"]
    done = command("pipeline.reproduce", best, uri=old_store, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert re.search(rf"^all \d+ summary metrics of run {best} reproduced", done.stdout, re.M), done.stdout[-2000:]
