"""The best model's process (``_wrapup.BestModel``): started ahead, it has imported torch before it is told which
sweep to publish; a best trial without a checkpoint needs nothing from it; an unneeded one is ended."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import psutil
from mlflow.tracking import MlflowClient

from hydra_plugins.pipeline_sweeper._plan import SweepPlan
from hydra_plugins.pipeline_sweeper._wrapup import BestModel, ReportSchedule
from pipeline.search import SearchSpace


def plan(uri: str, ours: bool = True) -> SweepPlan:
    return SweepPlan(strategy="random", space=SearchSpace.from_grammar({"x": "interval(0, 1)"}), fixed=[],
                     n_trials=2, uri=uri, records_itself=ours, experiment="wrapup")


def loaded_torch(pid: int) -> bool:
    try:
        return any("libtorch" in m.path for m in psutil.Process(pid).memory_maps())
    except psutil.Error:
        return False


def test_the_process_imports_ahead_and_ends_when_not_needed(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    MlflowClient(uri).search_experiments()
    model = BestModel({}, plan(uri))
    model.prepare()
    proc = model.proc
    deadline = time.monotonic() + 120
    while not loaded_torch(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert loaded_torch(proc.pid) and proc.poll() is None  # ready, and waiting to be told the sweep
    model.prepare()
    assert model.proc is proc  # one process per sweep
    model.close()
    assert proc.poll() is not None and model.proc is None
    assert MlflowClient(uri).search_registered_models() == []


def test_a_foreign_app_starts_nothing_and_a_best_trial_without_checkpoint_needs_nothing(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    run = client.create_run(client.create_experiment("wrapup"))
    model = BestModel({}, plan(uri, ours=False))
    model.prepare()
    assert model.proc is None
    assert model.publish("parent-of-no-consequence", run.info.run_id) is False and model.proc is None


def test_the_registry_told_nothing_exits_cleanly(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    done = subprocess.run([sys.executable, "-m", "pipeline.results.registry", "--wait", "--name", "m"], input="\n",
                          capture_output=True, text=True, env={**os.environ, "MLFLOW_TRACKING_URI": uri})
    assert done.returncode == 0 and done.stdout == "", done.stdout + done.stderr
    assert MlflowClient(uri).search_registered_models() == []


def test_the_mid_sweep_report_waits_report_every_from_the_start(tmp_path, caplog):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    ReportSchedule(True, 3600).maybe(uri, "0" * 32, tmp_path)  # a short sweep: no mid-sweep report
    assert "Could not write the sweep report" not in caplog.text
    ReportSchedule(False, 0).maybe(uri, "0" * 32, tmp_path)
    assert "Could not write the sweep report" not in caplog.text
    ReportSchedule(True, 0).maybe(uri, "0" * 32, tmp_path)  # due at once: tried (on a parent that is not there)
    assert "Could not write the sweep report" in caplog.text
