"""Ctrl-C and SIGTERM end a sweep as the README promises, under every launcher: one line saying how to resume,
exit 130, the parent run KILLED, no trial run left RUNNING, ``optimization_results.yaml`` saying KILLED. Real
signals to real processes: Ctrl-C reaches the whole process group (the sweeper and its workers), as a terminal
sends it; SIGTERM reaches the sweeper alone, as ``kill`` or a scheduler sends it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from pipeline.tracking import names
from tests.conftest import ROOT, SWEEP_FAST
from tests.test_launchers import (  # noqa: F401 - ray_cluster: a fixture
    needs_ray,
    needs_submitit,
    one_ray_cluster_at_a_time,
    ray_cluster,
)

pytestmark = pytest.mark.slow

LONG_TRIALS = [*SWEEP_FAST, "trainer.epochs=400", "hydra.sweeper.n_trials=6"]  # long enough to be stopped mid-trial
LAUNCHERS = {
    "basic": [],
    "joblib": ["hydra/launcher=joblib", "hydra.sweeper.n_jobs=2"],
    "submitit": ["hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10", "hydra.sweeper.n_jobs=2"],
}


def runs(uri: str) -> list:
    try:
        client = MlflowClient(uri)
        return client.search_runs([e.experiment_id for e in client.search_experiments()], max_results=1000)
    except Exception:  # noqa: BLE001 - the store is being created or written
        return []


def sweep_until_a_trial_runs(tmp_path: Path, uri: str, *args: str) -> subprocess.Popen:
    log = open(tmp_path / "sweep.log", "w")  # noqa: SIM115 - the process writes it until it ends
    proc = subprocess.Popen([sys.executable, str(ROOT / "train.py"), "-m", *LONG_TRIALS, f"tracking.uri={uri}",
                             f"hydra.sweep.dir={tmp_path / 'sweep'}", *args], cwd=tmp_path, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)  # its own group: Ctrl-C's target
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        # a trial that took its run (its worker's lease on it), not one the sweeper has only created at launch
        if any(r.info.status == "RUNNING" and "trial.number" in r.data.tags and names.LEASE_TAG in r.data.tags
               for r in runs(uri)):
            time.sleep(1.0)  # into its training
            return proc
        assert proc.poll() is None, (tmp_path / "sweep.log").read_text()[-3000:]
        time.sleep(0.5)
    proc.kill()
    raise AssertionError("no trial started within 240 s")


def assert_ended_as_promised(proc: subprocess.Popen, tmp_path: Path, uri: str) -> None:
    assert proc.wait(timeout=120) == 130, (tmp_path / "sweep.log").read_text()[-3000:]
    log = (tmp_path / "sweep.log").read_text()
    assert "Traceback" not in log and "failed to run trials" not in log, log[-3000:]
    [line] = [line for line in log.splitlines() if "Interrupted" in line]
    assert line == log.strip().splitlines()[-1] and "hydra.sweeper.resume=" in line
    results = yaml.safe_load((tmp_path / "sweep" / "optimization_results.yaml").read_text())
    assert results["status"] == "KILLED" and results["parent_run_id"] in line
    deadline = time.monotonic() + 30  # a worker's own watchdog may end its run a moment after the sweeper
    while time.monotonic() < deadline and any(r.info.status == "RUNNING" for r in runs(uri)):
        time.sleep(0.5)
    found = runs(uri)
    [parent] = [r for r in found if "sweep.strategy" in r.data.tags]
    assert parent.info.status == "KILLED" and parent.info.run_id == results["parent_run_id"]
    trials = [r for r in found if "trial.number" in r.data.tags]
    assert trials and not [r.info.run_name for r in trials if r.info.status == "RUNNING"]
    assert any(r.info.status == "KILLED" for r in trials), [(r.info.run_name, r.info.status) for r in trials]


@pytest.mark.parametrize("launcher", ["basic", "joblib", pytest.param("submitit", marks=needs_submitit)])
@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_a_signal_ends_the_sweep_as_promised(tmp_path, new_store, launcher, how):
    uri = new_store(tmp_path / "mlruns")
    proc = sweep_until_a_trial_runs(tmp_path, uri, *LAUNCHERS[launcher])
    if how == "ctrl-c":
        os.killpg(proc.pid, signal.SIGINT)
    else:
        proc.terminate()
    assert_ended_as_promised(proc, tmp_path, uri)


@needs_ray
@one_ray_cluster_at_a_time
def test_sigterm_ends_a_sweep_on_a_ray_cluster_as_promised(tmp_path, new_store, ray_cluster):  # noqa: F811
    address, _ = ray_cluster
    uri = new_store(tmp_path / "mlruns")
    proc = sweep_until_a_trial_runs(tmp_path, uri, "hydra/launcher=ray_cluster",
                                    f"hydra.launcher.ray.init.address={address}", "hydra.sweeper.n_jobs=2")
    proc.terminate()
    assert_ended_as_promised(proc, tmp_path, uri)
