"""Shared fixtures: the real ``conf/`` composed with Hydra, tiny budgets, a temporary SQLite store."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Tiny but real: 2 folds, a few epochs, a stratified subset of digits.
TINY = ["trainer.epochs=3", "cv.folds=2", "data.subset=400", "trainer.batch_size=32",
        "regularization.early_stopping.patience=0"]


@pytest.fixture(scope="session")
def store_template(tmp_path_factory) -> Path:
    """An empty SQLite store with MLflow's schema, made once: its migrations take seconds per new store."""
    from mlflow.tracking import MlflowClient

    db = tmp_path_factory.mktemp("template") / "mlflow.db"
    MlflowClient(f"sqlite:///{db}").search_experiments()
    return db


def fresh_store(template: Path, folder: Path) -> str:
    """The URI of a fresh, real SQLite store in ``folder``, copied from the empty ``template``."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, folder / "mlflow.db")
    return f"sqlite:///{folder / 'mlflow.db'}"


@pytest.fixture
def new_store(store_template):
    """``new_store(folder)`` -> the URI of a fresh SQLite store in ``folder``."""
    return lambda folder: fresh_store(store_template, folder)


@pytest.fixture
def tracking_uri(tmp_path: Path, new_store) -> str:
    return new_store(tmp_path / "mlruns")


@pytest.fixture
def compose_cfg():
    """Compose the project's real config with overrides, as train.py does."""
    from pipeline.reproduce import compose

    return compose


def run_train(args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: int = 600
              ) -> subprocess.CompletedProcess[str]:
    """``python train.py ARGS`` in a subprocess, started from ``cwd`` (not the repo root)."""
    full_env = {**os.environ, "HYDRA_FULL_ERROR": "0", **(env or {})}
    full_env.pop("MLFLOW_TRACKING_URI", None) if env is None or "MLFLOW_TRACKING_URI" not in env else None
    return subprocess.run([sys.executable, str(ROOT / "train.py"), *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout)

# Tiny trials for sweeps: no refit, no checkpoints or model logging.
SWEEP_FAST = ["trainer.epochs=2", "cv.folds=2", "data.subset=200", "trainer.batch_size=32", "cv.refit=false",
              "tracking.log_checkpoints=false", "tracking.log_model=false",
              "regularization.early_stopping.patience=0"]


def mlflow_runs(uri: str) -> list:
    """Every run in the store at ``uri``."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    return client.search_runs([e.experiment_id for e in client.search_experiments()], max_results=5000)


def sweep_runs(uri: str) -> tuple:
    """``(parent, children sorted by trial number)`` of the only sweep in the store."""
    runs = mlflow_runs(uri)
    [parent] = [r for r in runs if "sweep.strategy" in r.data.tags]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    return parent, sorted(children, key=lambda r: int(r.data.tags["trial.number"]))
