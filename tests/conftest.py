"""Shared fixtures: the real ``conf/`` composed with Hydra, tiny budgets, a temporary SQLite store."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Tiny but real: 2 folds, a few epochs, a stratified subset of digits.
TINY = ["trainer.epochs=3", "cv.folds=2", "data.subset=400", "trainer.batch_size=32",
        "regularization.early_stopping.patience=0"]


@pytest.fixture
def tracking_uri(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"


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
