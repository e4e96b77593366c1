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


@pytest.fixture(scope="session", autouse=True)
def entry_point() -> None:
    """The test session is an entry point, as train.py and the sweeper are: the process object and MLflow's
    environment (no telemetry thread, bounded retries) before any test talks to a store."""
    from pipeline import runtime
    from pipeline.tracking.store import MLFLOW_DEFAULTS

    runtime.start(MLFLOW_DEFAULTS)


@pytest.fixture(scope="session", autouse=True)
def hydra_plugins_discovered() -> None:
    """Discover Hydra's plugins (each registers its config nodes once, on import) before any test saves and
    restores Hydra's singletons (``hydra_restore_singletons``): a restore to a state saved before discovery
    would leave the plugins imported but their nodes gone for every later test."""
    from hydra.core.plugins import Plugins

    Plugins.instance()


@pytest.fixture(autouse=True)
def hydra_version_base_restored():
    """Hydra's version base as before each test: ``@hydra.main(version_base="1.3")`` and the compose API set it for
    every later Hydra run of the process (1.3: jobs do not chdir), and Hydra's own suites expect the default."""
    from hydra.version import VersionBase

    before = VersionBase.instance().getbase()
    yield
    VersionBase.instance().version_base = before


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
    from pipeline.results.reproduce import compose

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
              "regularization.early_stopping.patience=0",
              # the report and the registry have tests of their own (tests/test_report.py, test_registry.py)
              "hydra.sweeper.report=false", "hydra.sweeper.register_model=false"]


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


def run_train_in_process(args: list[str], capfd) -> tuple[int, str]:
    """``python train.py ARGS`` in this process (Hydra state reset around it): exit code and output."""
    import runpy
    import sys

    from hydra.core.global_hydra import GlobalHydra

    import pipeline.cli

    GlobalHydra.instance().clear()
    argv, exit_now = sys.argv, pipeline.cli.exit_now
    sys.argv = [str(ROOT / "train.py"), *args]
    pipeline.cli.exit_now = sys.exit  # in this process, the command's quick exit ends the run, not pytest
    code = 0
    try:  # as __main__, so that Hydra finds conf/ beside train.py as it does from the shell
        runpy.run_path(str(ROOT / "train.py"), run_name="__main__")
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    finally:
        sys.argv, pipeline.cli.exit_now = argv, exit_now
        GlobalHydra.instance().clear()
    out = capfd.readouterr()
    return code, out.out + out.err


# -- a real MLflow tracking server, shared by every test of the session -----------------------------
SERVER_START_SECONDS = 240  # ~20 s on a quiet 2-core machine, much more when other tests compete for it


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(uri: str, proc: subprocess.Popen | None, log: Path) -> None:
    """Poll ``/health`` until the server answers; fail with its log when it exits (``proc``, where this process
    started it) or never answers."""
    import time
    import urllib.request

    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"mlflow server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(uri + "/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"mlflow server at {uri} not healthy after {SERVER_START_SECONDS} s:\n{log.read_text()[-3000:]}")


SHARED_SERVER = "PIPELINE_TEST_MLFLOW_SERVER"  # the address of a parallel run's one server, for its workers


def _spawn_server(folder: Path, backend: str, port: int, log: Path) -> subprocess.Popen:
    """``mlflow server`` on 127.0.0.1:``port`` over ``backend``, artifacts proxied (``--artifacts-destination``),
    as on a shared team server; its job runner (a pool of huey workers, unused here) switched off; the server and
    its uvicorn worker in their own process group, to be ended together. Does not wait for it."""
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    env.pop("MLFLOW_TRACKING_URI", None)
    with open(log, "a") as out:
        return subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port",
                                 str(port), "--backend-store-uri", backend, "--artifacts-destination",
                                 str(folder / "artifacts"), "--workers", "1"], cwd=folder, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    import signal

    _end_group(proc, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        _end_group(proc, signal.SIGKILL)
        proc.wait()


def pytest_configure(config) -> None:
    """A parallel run (pytest-xdist, ``-n N``) still shares one server: its controller starts it here, before
    the workers are spawned, and they inherit its address (``SHARED_SERVER``)."""
    if getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput"):
        import tempfile

        folder, port = Path(tempfile.mkdtemp(prefix="pipeline-mlflow-server-")), _free_port()
        config.pipeline_server = (_spawn_server(folder, f"sqlite:///{folder / 'mlflow.db'}", port,
                                                folder / "server.log"), folder)
        os.environ[SHARED_SERVER] = f"http://127.0.0.1:{port}"
        os.environ[SHARED_SERVER + "_LOG"] = str(folder / "server.log")


def pytest_unconfigure(config) -> None:
    if hasattr(config, "pipeline_server"):
        proc, folder = config.pipeline_server
        _stop(proc)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory, store_template):
    """The session's ``mlflow server`` (``_spawn_server``) over a SQLite store of its own; yields ``http://...``.
    Started here on first use, or, in a parallel run, by its controller (``pytest_configure``)."""
    if os.environ.get(SHARED_SERVER):
        uri = os.environ[SHARED_SERVER]
        _wait_healthy(uri, None, Path(os.environ[SHARED_SERVER + "_LOG"]))
        yield uri
        return
    folder = tmp_path_factory.mktemp("mlflow_server")
    port = _free_port()
    proc = _spawn_server(folder, fresh_store(store_template, folder), port, folder / "server.log")
    try:
        _wait_healthy(f"http://127.0.0.1:{port}", proc, folder / "server.log")
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(proc)


def _end_group(proc: subprocess.Popen, sig: int) -> None:
    """Signal the process group ``proc`` leads (the server and its uvicorn worker), if any of it is left."""
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


def start_server(folder: Path, backend: str, port: int) -> subprocess.Popen:
    """A dedicated ``mlflow server`` (for tests that stop and restart it); waits until it is healthy."""
    proc = _spawn_server(folder, backend, port, folder / f"server-{port}.log")
    _wait_healthy(f"http://127.0.0.1:{port}", proc, folder / f"server-{port}.log")
    return proc


def stop_server(proc: subprocess.Popen) -> None:
    import signal

    _end_group(proc, signal.SIGKILL)
    proc.wait()


def score_served(model, data_cfg) -> dict:
    """The task's metrics of a served model (raw inputs in) on the held-out part of the data entry ``data_cfg``."""
    import torch

    from pipeline.data import load_data
    from pipeline.training.batches import Scaling, batches
    from pipeline.training.loop import Targets, evaluate

    data = load_data(data_cfg)
    return evaluate(model, batches(data.test, None, Scaling(), torch.device("cpu"), 256),
                    Targets(data.task, data.num_outputs))
