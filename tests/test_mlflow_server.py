"""A real ``mlflow server`` on 127.0.0.1 serves a sweep and its report, read back through MLflow's client.

The sweep is written over HTTP by the project's own writers, the report generated over HTTP, and
everything checked through ``MlflowClient(http://...)``: what a user sees in the UI or a notebook.
"""

from __future__ import annotations

import re
from pathlib import Path

import mlflow
import pytest
import requests
from mlflow.tracking import MlflowClient

from pipeline.results.insights.plots import slice_filename
from pipeline.results.report import generate_report
from tests.results.insights.test_history import SPACE, build_sweep, trial
from tests.results.insights.test_plots import FIXED_NAMES

pytestmark = pytest.mark.slow
TRIALS = [trial(0.01, 32, value=0.90, test=0.88), trial(0.001, 16, value=0.80, test=0.79),
          trial(1e12, 64, "failed"), trial(0.02, 64, value=0.93, test=0.90)]


@pytest.fixture(scope="module")
def served(mlflow_server):
    """``(uri, parent run id)`` of a sweep written and reported on through the server."""
    pid = build_sweep(mlflow_server, TRIALS, experiment="served-sweep")
    generate_report(mlflow_server, pid)
    return mlflow_server, pid


def test_the_server_answers_over_http(served):
    uri, pid = served
    assert uri.startswith("http://127.0.0.1:") and requests.get(f"{uri}/health", timeout=10).text == "OK"
    run = requests.get(f"{uri}/api/2.0/mlflow/runs/get", params={"run_id": pid}, timeout=10).json()["run"]
    assert {"key": "sweep.strategy", "value": "random"} in run["data"]["tags"]


def test_parent_and_its_children(served):
    uri, pid = served
    client = MlflowClient(uri)
    parent = client.get_run(pid)
    children = client.search_runs([parent.info.experiment_id], f"tags.`mlflow.parentRunId` = '{pid}'")
    assert parent.info.status == "FINISHED" and parent.data.tags["best.run_id"] in {c.info.run_id for c in children}
    assert sorted((int(c.data.tags["trial.number"]), c.info.status) for c in children) == [
        (0, "FINISHED"), (1, "FINISHED"), (2, "FAILED"), (3, "FINISHED")]
    assert parent.info.artifact_uri.startswith("mlflow-artifacts:")  # proxied by the server


def test_metric_histories(served):
    uri, pid = served
    client = MlflowClient(uri)
    assert [(m.step, m.value) for m in client.get_metric_history(pid, "trial_value")] == [
        (0, 0.90), (1, 0.80), (3, 0.93)]
    best = client.get_run(client.get_run(pid).data.tags["best.run_id"])
    curve = client.get_metric_history(best.info.run_id, "cv/val_accuracy")
    assert [m.step for m in curve] == [1, 2, 3] and best.data.metrics["test_accuracy"] == 0.90


def test_report_artifacts_and_metrics(served, tmp_path):
    uri, pid = served
    client = MlflowClient(uri)
    names = {Path(a.path).name for a in client.list_artifacts(pid, "report")}
    assert {*FIXED_NAMES, *(slice_filename(n) for n in SPACE), "report.html"} <= names
    folder = mlflow.artifacts.download_artifacts(run_id=pid, artifact_path="report", tracking_uri=uri,
                                                 dst_path=str(tmp_path))
    html = Path(folder, "report.html").read_text()
    assert html.count("Plotly.newPlot(") >= 8  # the interactive page, which loads nothing from elsewhere:
    assert not re.search(r"<(script|link)[^>]+(src|href)=[\"']https?:", html)
    assert Path(folder, "importance.png").read_bytes()[:4] == b"\x89PNG"
    run = client.get_run(pid)
    assert float(run.data.tags["selection_gap"]) == pytest.approx(0.03)
    assert not any(k.startswith("importance/") for k in run.data.metrics)  # no single-point charts


def test_make_server_starts_no_job_runner():
    """``make server`` (dry run): the server is started with MLflow's job runner switched off."""
    import subprocess

    from tests.conftest import ROOT

    out = subprocess.run(["make", "-n", "-W", "pyproject.toml", "server"], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    [line] = [line for line in out.splitlines() if "mlflow server" in line]
    assert line.startswith("MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false ")


def test_make_ui_and_server_bind_loopback_and_follow_the_sweeps_store(tmp_path):
    """HOST from the make command line only (an exported HOST is a machine's name, often); the store from
    MLFLOW_TRACKING_URI when set, so ``make ui`` opens what the sweeps wrote; a server URI is refused."""
    import os
    import subprocess

    from tests.conftest import ROOT

    def dry_run(*args: str, **env: str) -> subprocess.CompletedProcess:
        base = {k: v for k, v in os.environ.items()
                if k not in ("HOST", "PORT", "MLFLOW_TRACKING_URI", "MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
        return subprocess.run(["make", "-n", "-W", "pyproject.toml", *args], cwd=ROOT, capture_output=True,
                              text=True, env={**base, **env})

    for target in ("ui", "server"):
        [line] = [x for x in dry_run(target, HOST="build-box-7", PORT="8000").stdout.splitlines() if "mlflow " in x]
        assert "--host 127.0.0.1 --port 5000" in line and "mlruns/mlflow.db" in line
        assert "--host 0.0.0.0 --port 5001" in dry_run(target, "HOST=0.0.0.0", "PORT=5001").stdout
    db = tmp_path / "elsewhere" / "mlflow.db"
    [line] = [x for x in dry_run("ui", MLFLOW_TRACKING_URI=f"sqlite:///{db}").stdout.splitlines() if "mlflow " in x]
    assert f'--backend-store-uri "sqlite:///{db}"' in line and f'"{db.parent}/artifacts"' in line
    refused = subprocess.run(["make", "-W", "pyproject.toml", "remote-store-check"], cwd=ROOT, capture_output=True,
                             text=True, env={**os.environ, "MLFLOW_TRACKING_URI": "http://alice:pw@host:5000"})
    assert refused.returncode != 0 and "pw" not in refused.stdout + refused.stderr


@pytest.mark.slow
def test_make_ui_serves_the_store_with_one_web_worker_and_no_job_runner(tmp_path, store_template):
    """``make ui`` for real: it answers on its port with the store's experiments, as two processes (MLflow's
    launcher and one web worker): no pool of job-runner processes (15 processes and ~2.6 GiB by default)."""
    import os
    import signal
    import subprocess
    import sys
    import time
    import urllib.request

    from tests.conftest import ROOT, _free_port, fresh_store

    uri, port = fresh_store(store_template, tmp_path), _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    # the venv this suite runs in (make's own stamp is not remade: ``make test`` made it)
    make = ["make", "-o", ".venv/.installed", "ui", f"PORT={port}", f"BIN={Path(sys.executable).parent}"]
    proc = subprocess.Popen(make, cwd=ROOT, env={**env, "MLFLOW_TRACKING_URI": uri},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline, answer = time.monotonic() + 120, None
        while time.monotonic() < deadline and answer is None:
            try:
                answer = urllib.request.urlopen(f"http://127.0.0.1:{port}/ajax-api/2.0/mlflow/experiments/search"
                                                "?max_results=10", timeout=5).read()
            except OSError:
                time.sleep(1)
        assert answer is not None and b'"experiments"' in answer
        time.sleep(3)  # a job runner would have started its pool by now
        group = subprocess.run(["ps", "-e", "-o", "pgid=,args="], capture_output=True, text=True).stdout
        members = [line for line in group.splitlines() if line.split(None, 1)[0] == str(proc.pid)]
        python = [line for line in members if "python" in line or "mlflow" in line or "uvicorn" in line]
        assert len(python) <= 3 and not any("huey" in line or "job" in line for line in python), members
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
