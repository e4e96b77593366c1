"""Faults a long sweep meets, with real processes: a loky worker killed mid-trial, the sweeper killed outright
(SIGKILL) or stopped (SIGTERM), a resume, a tracking server that goes down and stays down, several processes
opening a new store at once. The MLflow store's counts are checked each time: lost 0, duplicated 0, RUNNING 0."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import psutil
import pytest
import yaml
from mlflow.tracking import MlflowClient

from tests.conftest import ROOT, SWEEP_FAST, _free_port, start_server, stop_server

pytestmark = pytest.mark.slow

SLOW_TRIAL = [*SWEEP_FAST, "trainer.epochs=60"]  # a few seconds: long enough to be killed mid-trial


def start_sweep(tmp_path: Path, name: str, *args: str, env: dict[str, str] | None = None,
                report: bool = False) -> subprocess.Popen:
    log = open(tmp_path / f"{name}.log", "w")  # noqa: SIM115 - the process writes it until it ends
    return subprocess.Popen([sys.executable, str(ROOT / "train.py"), "-m", "hydra/launcher=joblib",
                             "hydra.sweeper.n_jobs=2", "hydra.sweeper.strategy=random",
                             f"hydra.sweeper.report={str(report).lower()}", "hydra.sweeper.report_every=0",
                             "hydra.sweeper.register_model=false", f"hydra.sweep.dir={tmp_path / name}",
                             *[a for a in args if not (report and a.startswith("hydra.sweeper.report="))]],
                            cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})


def children(uri: str) -> list:
    client = MlflowClient(uri)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()], max_results=5000)
    return [r for r in runs if "mlflow.parentRunId" in r.data.tags]


def wait_for(what, timeout: float, every: float = 0.3):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = what()
        if found:
            return found
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s")


def running_child(uri: str):
    try:
        return [r for r in children(uri) if r.info.status == "RUNNING" and "lease" in r.data.tags]
    except Exception:  # noqa: BLE001 - the store is being written
        return []


def worker_pid(run) -> int:
    return int(run.data.tags["lease"].rsplit(":", 2)[1])


def assert_whole(uri: str, n_trials: int) -> dict[str, int]:
    """Every trial ended once: no run left RUNNING, n_trials ended trials with distinct numbers, and no two ended
    runs for one launched point."""
    runs = children(uri)
    statuses = Counter(r.info.status for r in runs)
    assert statuses["RUNNING"] == 0, statuses
    ended = [r for r in runs if r.info.status in ("FINISHED", "FAILED")]
    numbers = [r.data.tags["trial.number"] for r in ended]
    assert len(numbers) == len(set(numbers)) == n_trials, (numbers, statuses)
    overrides = Counter(r.data.tags.get("hydra.overrides") for r in ended if r.info.status == "FINISHED")
    assert max(overrides.values()) == 1  # a point re-run after a dead worker ended once
    return dict(statuses)


def test_a_dead_worker_is_run_again_and_a_killed_sweeper_leaves_no_worker(tmp_path, new_store):
    uri = new_store(tmp_path / "mlruns")
    sweep = start_sweep(tmp_path, "sweep", "hydra.sweeper.n_trials=5", f"tracking.uri={uri}", *SLOW_TRIAL)
    # 1. kill -9 the worker of a running trial: that trial runs again, the sweep goes on to its end
    victim = wait_for(lambda: running_child(uri), 180)[0]
    os.kill(worker_pid(victim), signal.SIGKILL)
    assert sweep.wait(timeout=400) == 0, (tmp_path / "sweep.log").read_text()[-3000:]
    log = (tmp_path / "sweep.log").read_text()
    assert "its worker died" in log and "run again once" in log and "Traceback" not in log
    statuses = assert_whole(uri, 5)
    assert statuses["KILLED"] >= 1  # the dead worker's run, ended by the sweeper
    killed = MlflowClient(uri).get_run(victim.info.run_id)
    assert killed.info.status == "KILLED" and "worker died" in killed.data.tags["error"]
    results = yaml.safe_load((tmp_path / "sweep" / "optimization_results.yaml").read_text())
    assert results["n_trials"]["complete"] == 5 and results["status"] == "FINISHED"
    parent = MlflowClient(uri).get_run(results["parent_run_id"])
    assert parent.data.tags["best.run_id"] == results["best_run_id"]

    # 2. kill -9 the sweeper mid-trial: its workers stop within seconds, and a resume finishes the sweep
    uri2 = new_store(tmp_path / "mlruns2")
    sweep = start_sweep(tmp_path, "sweep2", "hydra.sweeper.n_trials=4", f"tracking.uri={uri2}", *SLOW_TRIAL)
    wait_for(lambda: running_child(uri2), 180)
    workers = [p for p in psutil.Process(sweep.pid).children(recursive=True)]
    assert workers
    sweep.kill()
    sweep.wait()
    _, alive = psutil.wait_procs(workers, timeout=15)
    assert not alive, [p.cmdline()[:3] for p in alive]
    assert not running_child(uri2)  # each worker's watchdog ended its run (KILLED) before it exited
    parent_id = MlflowClient(uri2).search_runs([children(uri2)[0].info.experiment_id],
                                              "tags.`sweep.strategy` = 'random'")[0].info.run_id
    resumed = start_sweep(tmp_path, "sweep2", f"hydra.sweeper.resume={parent_id}", f"tracking.uri={uri2}",
                          *SLOW_TRIAL)
    assert resumed.wait(timeout=400) == 0, (tmp_path / "sweep2.log").read_text()[-3000:]
    assert_whole(uri2, 4)


def test_sigterm_ends_the_sweep_with_one_line_and_exit_130(tmp_path, new_store):
    """Also: the report is written while the sweep runs, so it can be opened mid-sweep."""
    uri = new_store(tmp_path / "mlruns")
    sweep = start_sweep(tmp_path, "sweep", "hydra.sweeper.n_trials=6", f"tracking.uri={uri}", *SLOW_TRIAL,
                        report=True)
    page = tmp_path / "sweep" / "report" / "report.html"
    wait_for(lambda: page.exists() and running_child(uri), 300)
    assert sweep.poll() is None and "Plotly.newPlot(" in page.read_text()
    workers = psutil.Process(sweep.pid).children(recursive=True)
    sweep.terminate()
    assert sweep.wait(timeout=60) == 130
    log = (tmp_path / "sweep.log").read_text()
    assert "Traceback" not in log and log.strip().splitlines()[-1].count("Interrupted") == 1
    _, alive = psutil.wait_procs(workers, timeout=15)
    assert not alive
    runs = children(uri)
    assert not [r for r in runs if r.info.status == "RUNNING"]
    parent = [r for r in MlflowClient(uri).search_runs([runs[0].info.experiment_id]) if "sweep.strategy" in r.data.tags]
    assert parent[0].info.status == "KILLED"


def test_a_server_that_stays_down_ends_the_sweep_and_it_resumes_once_back(tmp_path, store_template):
    """Through a real ``mlflow server`` whose URI carries credentials: they never reach the console or a file."""
    from tests.conftest import fresh_store

    backend, port = fresh_store(store_template, tmp_path / "server"), _free_port()
    server = start_server(tmp_path / "server", backend, port)
    uri = f"http://alice:S3CRET-pw@127.0.0.1:{port}"
    env = {"PIPELINE_STORE_CHECK_SECONDS": "3", "PIPELINE_STORE_PATIENCE_SECONDS": "10",
           "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1"}
    plain = f"http://127.0.0.1:{port}"
    try:
        sweep = start_sweep(tmp_path, "sweep", "hydra.sweeper.n_trials=4", f"tracking.uri={uri}", *SLOW_TRIAL,
                            env=env)
        wait_for(lambda: running_child(plain), 180)
        workers = psutil.Process(sweep.pid).children(recursive=True)
        parent_id = MlflowClient(plain).get_run(running_child(plain)[0].info.run_id).data.tags["mlflow.parentRunId"]
        stop_server(server)
        down = time.monotonic()
        rc = sweep.wait(timeout=240)
        took = time.monotonic() - down
        log = (tmp_path / "sweep.log").read_text()
        assert rc == 1 and took < 120, (rc, took, log[-2000:])
        assert f"The tracking server {plain} has been unreachable" in log.strip().splitlines()[-1]
        _, alive = psutil.wait_procs(workers, timeout=15)
        assert not alive
        server = start_server(tmp_path / "server", backend, port)
        resumed = start_sweep(tmp_path, "sweep", f"hydra.sweeper.resume={parent_id}", f"tracking.uri={uri}",
                              *SLOW_TRIAL, env=env)
        assert resumed.wait(timeout=400) == 0, (tmp_path / "sweep.log").read_text()[-3000:]
        assert_whole(plain, 4)
    finally:
        stop_server(server)
    leaked = [str(p) for p in tmp_path.rglob("*") if p.is_file() and "server" not in p.parts
              and "S3CRET" in p.read_text(errors="ignore")]
    assert leaked == []  # console logs (sweep.log), multirun.yaml, .hydra/*.yaml, job logs, results


OPEN_STORE = """
import sys
from pipeline.tracking.store import get_client
client = get_client(sys.argv[1])
exp = client.create_experiment(sys.argv[2])
client.set_terminated(client.create_run(exp).info.run_id)
"""


def test_several_processes_create_a_new_store_at_once(tmp_path):
    uri = f"sqlite:///{tmp_path / 'new' / 'mlflow.db'}"
    procs = [subprocess.Popen([sys.executable, "-c", OPEN_STORE, uri, f"e{i}"], cwd=ROOT, stderr=subprocess.PIPE,
                              text=True) for i in range(4)]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, errors
    assert len(MlflowClient(uri).search_runs([e.experiment_id for e in MlflowClient(uri).search_experiments()])) == 4
