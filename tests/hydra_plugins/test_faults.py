"""Faults: the sweeper SIGKILLed at several points and resumed, the tracking server restarted (test_outages.py:
a worker killed, the sweeper killed with workers running, SIGTERM, a server that stays down)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable

import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import (
    ROOT,
    SWEEP_FAST,
    _free_port,
    fresh_store,
    mlflow_runs,
    start_server,
    stop_server,
    sweep_runs,
)

pytestmark = pytest.mark.slow
EPOCHS = 4
SPACE = ["optimizer.lr=tag(log, interval(1e-3, 1e-1))", "model.hidden_dim=choice(16,32)"]
TRIALS = ["trainer.epochs=4", "hydra.sweeper.n_trials=4"]


def popen_train(args: list[str], cwd, uri: str | None = None) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    return subprocess.Popen([sys.executable, str(ROOT / "train.py"), *args], cwd=cwd, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)


def children(uri: str) -> list:
    return [r for r in mlflow_runs(uri) if "mlflow.parentRunId" in r.data.tags]


def wait_for(condition: Callable[[], bool], proc: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        assert proc.poll() is None, f"exited early ({proc.returncode}): {proc.stderr.read()[-2000:]}"
        time.sleep(0.2)
    raise AssertionError("condition not reached")


def kill(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def assert_complete_sweep(uri: str, n_trials: int = 4) -> None:
    parent, runs = sweep_runs(uri)
    finished = [c for c in runs if c.info.status == "FINISHED"]
    assert parent.info.status == "FINISHED" and len(finished) == n_trials
    assert not [c for c in runs if c.info.status == "RUNNING"]
    params = [c.data.tags["trial.params"] for c in finished]
    assert len(set(params)) == n_trials, "a trial ran twice"
    client = MlflowClient(uri)
    for c in finished:  # every curve complete (patience 0: all epochs run)
        for key in ("cv/val_accuracy", "fold_0/train_loss", "fold_1/val_loss"):
            assert [m.step for m in client.get_metric_history(c.info.run_id, key)] == list(range(1, EPOCHS + 1))


def test_sweeper_killed_at_several_points_and_resumed(tmp_path, store_template):
    uri = fresh_store(store_template, tmp_path)
    base = ["-m", *SWEEP_FAST, *TRIALS, f"tracking.uri={uri}"]
    proc = popen_train([*base, *SPACE], tmp_path)
    wait_for(lambda: any("sweep.strategy" in r.data.tags for r in mlflow_runs(uri)), proc)
    kill(proc)  # 1: the parent exists, no trial launched yet
    parent_id = sweep_runs(uri)[0].info.run_id
    resume = [*base, f"hydra.sweeper.resume={parent_id}"]
    points = [lambda: any(c.info.status == "RUNNING" for c in children(uri)),  # 2: mid-trial
              lambda: sum(c.info.status == "FINISHED" for c in children(uri)) >= 2]  # 3: after a trial ended
    for point in points:
        proc = popen_train(resume, tmp_path)
        wait_for(point, proc)
        kill(proc)
    proc = popen_train(resume, tmp_path)
    assert proc.wait(timeout=600) == 0, proc.stderr.read()[-3000:]
    assert_complete_sweep(uri)
    # resuming the finished sweep says so, and changes nothing: no run, no tag, no model version
    before = [(r.info.run_id, r.info.status, r.data.tags) for r in mlflow_runs(uri)]
    versions = MlflowClient(uri).search_model_versions()
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    proc = subprocess.run([sys.executable, str(ROOT / "train.py"), *resume], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    assert "already finished" in out and sweep_runs(uri)[0].info.run_name in out, out[-2000:]
    assert [(r.info.run_id, r.info.status, r.data.tags) for r in mlflow_runs(uri)] == before
    assert len(MlflowClient(uri).search_model_versions()) == len(versions)


def test_tracking_server_restarted_mid_sweep(tmp_path, store_template):
    backend = fresh_store(store_template, tmp_path)
    port = _free_port()
    server = start_server(tmp_path, backend, port)
    try:
        proc = popen_train(["-m", *SWEEP_FAST, *TRIALS, f"tracking.uri=http://127.0.0.1:{port}", *SPACE], tmp_path)
        wait_for(lambda: any(c.info.status == "FINISHED" for c in children(backend)), proc)
        stop_server(server)
        time.sleep(2)
        server = start_server(tmp_path, backend, port)
        assert proc.wait(timeout=600) == 0, proc.stderr.read()[-3000:]
        assert_complete_sweep(backend)
    finally:
        stop_server(server)
