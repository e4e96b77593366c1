"""``python train.py`` as a user runs it: clear errors, non-zero exit, nothing written to MLflow."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.conftest import TINY, run_train, run_train_in_process

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def runs_in(db: Path) -> int:
    if not db.exists():
        return 0
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{db}")
    return len(client.search_runs([e.experiment_id for e in client.search_experiments()]))


@pytest.mark.parametrize("override,message", [
    ("optimizer.lr=-1", "optimizer.lr=-1 is invalid: expected a number > 0"),
    ("trainer.batch_size=0", "trainer.batch_size=0 is invalid"),
    ("cv.folds=1", "cv.folds=1 is invalid: expected an integer >= 2"),
    ("cv.folds=500", "cv.folds=500 is larger than the 320 training samples"),
    ("cv.folds=40", "cv.folds=40 is larger than the smallest class"),
    ("data=mnist", "put the files in"),  # data.root, below, only where the entry has one
    ("model=resnet", "Could not find 'model/resnet'"),
    # checked before the run starts (a FAILED run was left by these before)
    ("pruning.pruner=foo", "pruning.pruner='foo' is invalid: expected one of ('none', 'median', 'asha')"),
    ("pruning.reduction_factor=1", "pruning.reduction_factor=1 is invalid: expected an integer >= 2"),
    ("scheduler=plateau +scheduler.mode=min",
     "scheduler.mode='min' is invalid: expected 'max' for cv.metric=val_accuracy"),
])
def test_bad_input_exits_non_zero_with_a_clear_message_and_no_run(tmp_path, capfd, override, message):
    db = tmp_path / "store" / "mlflow.db"
    root = [f"data.root={tmp_path}"] if override.startswith("data=") else []
    code, out = run_train_in_process([*TINY, f"tracking.uri=sqlite:///{db}", f"hydra.run.dir={tmp_path / 'run'}",
                                      *override.split(), *root], capfd)
    assert code != 0
    assert message in out
    assert "Traceback" not in out
    assert runs_in(db) == 0


def test_unreachable_tracking_uri(tmp_path):
    proc = run_train([*TINY, f"tracking.uri=http://127.0.0.1:{free_port()}"], cwd=tmp_path)
    assert proc.returncode != 0 and "is unreachable" in proc.stderr + proc.stdout


def test_env_tracking_uri_wins_over_the_default_and_runs_from_any_directory(tmp_path):
    db = tmp_path / "env-store.db"
    work = tmp_path / "elsewhere"
    work.mkdir()
    proc = run_train([*TINY, "cv.refit=false"], cwd=work, env={"MLFLOW_TRACKING_URI": f"sqlite:///{db}"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert runs_in(db) == 1
    assert "cv val_accuracy" in proc.stdout + proc.stderr
    assert not (work / "mlruns").exists() and not (work / "mlartifacts").exists()
