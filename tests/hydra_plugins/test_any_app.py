"""The sweeper under any ``@hydra.main`` app: Hydra's own suites for every strategy, and what a foreign app's
sweep leaves in MLflow (one child run per trial, written by the sweeper), in real subprocesses."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hydra.test_utils.launcher_common_tests import BatchedSweeperTestSuite, IntegrationTestSuite

from tests.conftest import fresh_store, mlflow_runs, sweep_runs

STRATEGIES = ("grid", "random", "bayes", "evolution")
QUIET = ["hydra.sweeper.report=false"]  # the report has its own tests; here it only costs time


@pytest.fixture
def store(monkeypatch, tmp_path_factory, store_template) -> str:
    """A fresh store for the sweeper of a foreign app, named by MLFLOW_TRACKING_URI (its default)."""
    uri = fresh_store(store_template, tmp_path_factory.mktemp("store"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri


@pytest.mark.slow
@pytest.mark.usefixtures("store")
@pytest.mark.parametrize("task_launcher_cfg, extra_flags",
                         [({}, ["-m", f"hydra/sweeper={s}", *QUIET]) for s in STRATEGIES], ids=STRATEGIES)
class TestHydraIntegrationSuite(IntegrationTestSuite):
    """Hydra's integration suite, unchanged: job names, sweep directories, original cwd, through our sweeper."""


@pytest.mark.usefixtures("store")
@pytest.mark.parametrize("launcher_name, overrides",
                         [("basic", [f"hydra/sweeper={s}", "hydra.sweeper.batch_size=2", *QUIET]) for s in STRATEGIES],
                         ids=STRATEGIES)
class TestHydraBatchedSweeperSuite(BatchedSweeperTestSuite):
    """Hydra's batched-sweeper suite: a 6-point space in 3 batches of 2, in the basic sweeper's order (a finite
    space no larger than the budget is run whole, in grid order, by every strategy)."""


# -- a foreign app, as a user writes one -----------------------------------------------------------------
APP = '''
import os, hydra

@hydra.main(version_base="1.3", config_path=".", config_name="config")
def main(cfg):
    if cfg.x > 0.95:
        raise RuntimeError("x too large")
    loss = (cfg.x - 0.3) ** 2 + (0.1 if cfg.kind == "b" else 0.0)
    if cfg.returns == "none":
        return None
    if cfg.returns == "mapping":
        return {"loss": loss, "accuracy": 1 - loss, "note": "text is ignored"}
    return loss

if __name__ == "__main__":
    main()
'''


def write_app(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text("x: 0.5\nkind: a\nreturns: number\n")
    (folder / "my_app.py").write_text(textwrap.dedent(APP))
    return folder / "my_app.py"


def run_app(app: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([sys.executable, str(app), "-m", *QUIET, f"hydra.sweep.dir={app.parent / 'multirun'}",
                           *args], cwd=app.parent, capture_output=True, text=True, timeout=600,
                          env={**os.environ, **(env or {})})


@pytest.mark.slow
def test_a_foreign_apps_trials_are_child_runs_written_by_the_sweeper(tmp_path, store):
    app = write_app(tmp_path / "app")
    proc = run_app(app, "hydra/sweeper=bayes", "x=interval(0, 1)", "kind=a,b", "returns=mapping",
                   "hydra.sweeper.objective=loss", "hydra.sweeper.n_trials=6", "hydra.sweeper.n_initial=3")
    assert proc.returncode == 0, proc.stderr[-3000:]
    parent, children = sweep_runs(store)
    assert parent.info.status == "FINISHED" and len(children) == 6
    assert parent.info.experiment_id == children[0].info.experiment_id
    assert parent.data.tags["sweep.objective_key"] == "loss" and parent.data.tags["sweep.direction"] == "minimize"
    for c in children:
        x, kind = float(c.data.params["x"]), c.data.params["kind"]
        assert c.data.params["returns"] == "mapping"
        assert c.info.run_name.startswith(f"trial-{int(c.data.tags['trial.number']):03d} ")  # and how it ended
        if c.info.status == "FINISHED":
            assert c.data.metrics["loss"] == pytest.approx((x - 0.3) ** 2 + (0.1 if kind == "b" else 0.0))
            assert c.data.metrics["accuracy"] == pytest.approx(1 - c.data.metrics["loss"])
            assert c.data.tags["trial.state"] == "complete"
        else:
            assert c.info.status == "FAILED" and x > 0.95 and "x too large" in c.data.tags["error"]
    best = min((c for c in children if c.info.status == "FINISHED"), key=lambda c: c.data.metrics["loss"])
    assert parent.data.tags["best.run_id"] == best.info.run_id
    assert parent.data.metrics["best_value"] == best.data.metrics["loss"]


@pytest.mark.slow
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_task_returning_none_completes_without_a_value(tmp_path, store, strategy):
    app = write_app(tmp_path / "app")
    space = "x=0.1,0.2,0.4,0.6" if strategy == "grid" else "x=interval(0, 0.9)"
    proc = run_app(app, f"hydra/sweeper={strategy}", space, "returns=none", "hydra.sweeper.n_trials=4")
    assert proc.returncode == 0, proc.stderr[-3000:]
    parent, children = sweep_runs(store)
    assert [c.info.status for c in children] == ["FINISHED"] * 4
    assert all(c.data.tags["trial.state"] == "complete" and not c.data.metrics for c in children)
    assert "best.run_id" not in parent.data.tags and "best_value" not in parent.data.metrics
    assert parent.data.metrics["n_complete"] == 4 and parent.info.status == "FINISHED"
    assert len({c.data.params["x"] for c in children}) == 4  # still a search: no point twice
    warnings = (proc.stdout + proc.stderr).count("has nothing to learn from")
    assert warnings == (1 if strategy in ("bayes", "evolution") else 0), proc.stderr[-3000:]


@pytest.mark.slow
def test_no_space_runs_what_hydras_basic_sweeper_would(tmp_path, store):
    app = write_app(tmp_path / "app")
    proc = run_app(app, "hydra/sweeper=bayes", "x=0.2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    parent, [child] = sweep_runs(store)
    assert child.data.params["x"] == "0.2" and child.data.metrics["value"] == pytest.approx(0.01)
    assert parent.data.tags["sweep.space"] == "{}" and "Launching 1 jobs" in proc.stdout + proc.stderr


@pytest.mark.slow
def test_a_mapping_without_the_objective_key_stops_the_sweep_at_the_first_trial_with_its_keys(tmp_path, store):
    app = write_app(tmp_path / "app")
    proc = run_app(app, "hydra/sweeper=random", "x=interval(0,0.9)", "hydra.sweeper.n_trials=6",
                   "returns=mapping", "hydra.sweeper.max_failure_rate=1")
    assert proc.returncode == 1, proc.stderr[-3000:]
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if "set hydra.sweeper.objective" in line]
    assert "every trial would repeat" in lines[-1] and "'accuracy'" in lines[-1]  # the trial's line, then the stop
    parent, children = sweep_runs(store)
    assert len(children) == 1 and children[0].info.status == "FAILED"  # not every trial of the budget
    assert "set hydra.sweeper.objective" in children[0].data.tags["error"]
    assert parent.info.status == "FAILED"


# -- a task that says it records itself (the trial protocol) but writes elsewhere -------------------------
SELF_RECORDING = '''
import os, hydra
from mlflow.tracking import MlflowClient

@hydra.main(version_base="1.3", config_path=".", config_name="config")
def main(cfg):
    # a buggy app: it ignores the tracking.uri the sweeper passes, and uses its own variable
    client = MlflowClient(os.environ["APP_OWN_STORE"])
    exp = client.get_experiment_by_name("own") or client.get_experiment(client.create_experiment("own"))
    run = client.create_run(exp.experiment_id, tags={"mlflow.parentRunId": cfg.tracking.parent_run_id,
                                                    "trial.number": str(cfg.tracking.trial_number)})
    client.set_terminated(run.info.run_id)
    return cfg.x

if __name__ == "__main__":
    main()
'''


@pytest.mark.slow
def test_trials_whose_runs_are_not_in_the_sweeps_store_fail_the_sweep(tmp_path, store, store_template):
    other = fresh_store(store_template, tmp_path / "other")
    folder = tmp_path / "self"
    folder.mkdir()
    (folder / "config.yaml").write_text("x: 1\ntracking:\n  uri: null\n  parent_run_id: null\n  trial_number: null\n")
    (folder / "app.py").write_text(textwrap.dedent(SELF_RECORDING))
    proc = run_app(folder / "app.py", "hydra/sweeper=grid", "x=1,2", env={"APP_OWN_STORE": other})
    assert proc.returncode == 1
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if "have no run in the sweep's store" in line]
    assert len(lines) == 1 and store in lines[0] and "2 of 2 trials" in lines[0], proc.stderr[-2000:]
    parent, children = sweep_runs(store)
    assert parent.info.status == "FAILED" and children == []
    assert len(mlflow_runs(other)) == 2
