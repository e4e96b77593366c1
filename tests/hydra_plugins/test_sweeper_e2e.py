"""Real sweeps through ``python train.py -m`` in subprocesses, tiny trials, temporary SQLite stores."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import mlflow
import pytest
import yaml

from tests.conftest import (
    ROOT,
    SWEEP_FAST,
    fresh_store,
    run_train,
    run_train_in_process,
    sweep_runs,
)

pytestmark = pytest.mark.slow
SPACE = ["optimizer.lr=tag(log, interval(1e-3, 1e-1))", "model.hidden_dim=choice(16,32)"]


def sweep(template: Path, tmp_path: Path, *args: str, name: str = "store"
          ) -> tuple[subprocess.CompletedProcess, str]:
    """A real sweep in a subprocess (needed for parallel launchers)."""
    uri = fresh_store(template, tmp_path / name)
    fast = SWEEP_FAST if "hydra/sweeper=basic" not in args else [a for a in SWEEP_FAST if "sweeper" not in a]
    proc = run_train(["-m", *fast, f"tracking.uri={uri}", f"hydra.sweep.dir={tmp_path / name / 'sweep'}", *args],
                     cwd=tmp_path)
    return proc, uri


def sweep_here(template: Path, tmp_path: Path, capfd, *args: str) -> tuple[int, str, str]:
    """The same sweep run in this process (saves the interpreter start-up): exit code, output, store."""
    uri = fresh_store(template, tmp_path / "store")
    fast = SWEEP_FAST if "hydra/sweeper=basic" not in args else [a for a in SWEEP_FAST if "sweeper" not in a]
    code, out = run_train_in_process(["-m", *fast, f"tracking.uri={uri}",
                                      f"hydra.sweep.dir={tmp_path / 'store' / 'sweep'}", *args], capfd)
    return code, out, uri


@pytest.fixture(scope="module")
def random_sweep(tmp_path_factory, store_template):
    tmp = tmp_path_factory.mktemp("random")
    proc, uri = sweep(store_template, tmp, *SPACE, "hydra/sweeper=random", "hydra.sweeper.n_trials=4",
                      "hydra.sweeper.n_jobs=2",
                      "hydra.sweeper.seed=3")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc, uri, tmp


def test_parent_run_holds_the_sweep(random_sweep):
    proc, uri, tmp = random_sweep
    parent, children = sweep_runs(uri)
    t = parent.data.tags
    assert t["sweep.strategy"] == "random" and t["sweep.seed"] == "3" and t["sweep.n_trials"] == "4"
    assert json.loads(t["sweep.space"]) == {"optimizer.lr": "tag(log,interval(0.001,0.1))",
                                            "model.hidden_dim": "16,32"}
    # started from another folder: the command as typed, and the re-run command names train.py by its path
    assert t["sweep.command"].startswith(f"python {ROOT / 'train.py'} -m") and "hydra/sweeper=random" in t[
        "sweep.command"]
    assert parent.info.status == "FINISHED" and re.fullmatch(r"\d\d-\d\d \d\d:\d\d:\d\d random( \S+)?",
                                                             parent.info.run_name)
    # each trial's name ends with its value, which the run list then shows without a column added by hand
    assert [c.info.run_name for c in children] == [f"trial-{k:03d} {c.data.metrics['cv_mean']:.6g}"
                                                   for k, c in enumerate(children)]
    assert all(c.info.status == "FINISHED" for c in children)


def test_parent_summary_points_at_the_best_trial(random_sweep):
    proc, uri, tmp = random_sweep
    parent, children = sweep_runs(uri)
    best = max(children, key=lambda c: c.data.metrics["cv_mean"])
    assert parent.data.metrics["best_value"] == best.data.metrics["cv_mean"]
    assert parent.data.tags["best.run_id"] == best.info.run_id
    folder = mlflow.artifacts.download_artifacts(run_id=parent.info.run_id, tracking_uri=uri)
    results = yaml.safe_load(Path(folder, "optimization_results.yaml").read_text())
    assert results["best_value"] == best.data.metrics["cv_mean"] and results["best_run_id"] == best.info.run_id
    assert results["best_params"]["model.hidden_dim"] == int(best.data.params["model.hidden_dim"])
    assert results["best_command"].startswith(f"python {ROOT / 'train.py'} ") and "optimizer.lr=" in results[
        "best_command"] and "hydra.searchpath" not in results["best_command"]
    assert yaml.safe_load((tmp / "store" / "sweep" / "optimization_results.yaml").read_text()) == results
    rows = Path(folder, "trials.csv").read_text().strip().splitlines()
    assert len(rows) == 5 and rows[0].startswith("trial,state,value")


def test_one_log_line_per_trial(random_sweep):
    proc, _, _ = random_sweep
    log = proc.stdout + proc.stderr
    for k in range(4):  # one numbering: the run's name
        assert f"trial-{k:03d}: " in log and f"{k + 1} of 4 ended" in log
    # the basic launcher runs one launch at a time in this process: n_jobs=2 trials per launch, for every strategy
    assert log.count("Launching 2 jobs") == 2 and "basic launcher runs one trial at a time" in log
    assert "| best " in log and "elapsed" in log


def test_trials_follow_the_seeded_optimizer(random_sweep):
    from pipeline.search import SearchSpace, make_optimizer

    _, uri, _ = random_sweep
    from pipeline.tracking import runs

    parent, children = sweep_runs(uri)
    space = SearchSpace.from_grammar(json.loads(parent.data.tags["sweep.space"]))
    expected = make_optimizer("random", space, seed=3).ask(4)
    by_number = runs.launched(parent.data.tags, children)
    assert [by_number[k] for k in range(4)] == expected
    assert not [t for t in parent.data.tags if t.startswith("trial.")]  # per-trial values live on the trials


def test_bayes_sweep_end_to_end(tmp_path, store_template, capfd):
    code, out, uri = sweep_here(store_template, tmp_path, capfd, *SPACE, "model.num_layers=int(interval(1, 3))",
                                "hydra/sweeper=bayes", "hydra.sweeper.n_trials=5", "hydra.sweeper.n_initial=2",
                                "hydra.sweeper.n_jobs=2")
    assert code == 0, out[-3000:]
    assert out.count("Launching 2 jobs") == 2 and out.count("Launching 1 jobs") == 1  # bayes: n_jobs per batch
    parent, children = sweep_runs(uri)
    assert parent.data.tags["sweep.strategy"] == "bayes" and parent.info.status == "FINISHED"
    assert [c.info.run_name.split()[0] for c in children] == [f"trial-{k:03d}" for k in range(5)]
    assert all(c.data.tags["trial.state"] == "complete" for c in children)
    params = [c.data.tags["trial.params"] for c in children]
    assert len(set(params)) == 5
    assert parent.data.metrics["best_value"] == max(c.data.metrics["cv_mean"] for c in children)


def test_grid_product_and_config_group_choices(tmp_path, store_template, capfd):
    code, out, uri = sweep_here(store_template, tmp_path, capfd, "hydra/sweeper=grid", "model=mlp,cnn",
                                "model.channels=4,8", "model.hidden_dim=16")
    assert code == 0, out[-3000:]
    parent, children = sweep_runs(uri)
    # model.channels applies to the CNN only: one MLP trial, not two that differ in a value it ignores
    assert len(children) == 3 and all(c.info.status == "FINISHED" for c in children)
    cnn = [c for c in children if c.data.params["model._target_"] == "pipeline.models.cnn"]
    mlp = [c for c in children if c.data.params["model._target_"] == "pipeline.models.mlp"]
    assert sorted(c.data.params["model.channels"] for c in cnn) == ["4", "8"]
    assert len(mlp) == 1 and all("model.channels" not in c.data.params for c in mlp)
    assert json.loads(parent.data.tags["sweep.conditions"]) == {"model.channels": "model in [cnn]"}
    assert all(c.data.params["model.hidden_dim"] == "16" for c in children)


def test_basic_sweeper_multirun_is_grouped_too(tmp_path, store_template, capfd):
    code, out, uri = sweep_here(store_template, tmp_path, capfd, "hydra/sweeper=basic", "optimizer.lr=0.01,0.001")
    assert code == 0, out[-3000:]
    parent, children = sweep_runs(uri)
    assert parent.data.tags["sweep.strategy"] == "basic" and len(children) == 2
    assert sorted(c.data.params["optimizer.lr"] for c in children) == ["0.001", "0.01"]
    assert parent.data.metrics["best_value"] == max(c.data.metrics["cv_mean"] for c in children)


# The joblib launcher with 2 workers: tests/test_launchers.py::test_local_parallel_sweep.


def test_failing_trial_is_recorded_and_the_sweep_goes_on(tmp_path, store_template, capfd):
    code, out, uri = sweep_here(store_template, tmp_path, capfd, "hydra/sweeper=grid", "optimizer=sgd",
                                "optimizer.lr=1e12,0.01")
    assert code == 0, out[-3000:]
    parent, children = sweep_runs(uri)
    assert [c.info.status for c in children] == ["FAILED", "FINISHED"]
    assert "NonFiniteLossError" in children[0].data.tags["error"]
    assert parent.info.status == "FINISHED" and parent.data.metrics["n_failed"] == 1
    assert parent.data.tags["best.run_id"] == children[1].info.run_id


def test_max_failure_rate_stops_the_sweep(tmp_path, store_template, capfd):
    code, out, uri = sweep_here(store_template, tmp_path, capfd, "optimizer=sgd",
                                "optimizer.lr=tag(log, interval(1e10, 1e12))", "hydra.sweeper.n_trials=4",
                                "hydra.sweeper.max_failure_rate=0.25")
    assert code != 0
    assert "max_failure_rate=0.25" in out
    parent, children = sweep_runs(uri)
    assert parent.info.status == "FAILED" and len(children) == 2


def test_sweep_end_registers_the_best_model_and_writes_the_report(tmp_path, store_template, capfd):
    """The whole end of a sweep as ``make sweep`` runs it: the best trial's model is logged and registered
    (by ``python -m pipeline.results.registry`` in a process of its own) and the report reaches the parent."""
    keep = [a for a in SWEEP_FAST if a.split("=")[0] not in ("cv.refit", "tracking.log_checkpoints",
                                                             "tracking.log_model",
                                                              "hydra.sweeper.report", "hydra.sweeper.register_model")]
    uri = fresh_store(store_template, tmp_path / "store")
    code, out = run_train_in_process(["-m", *keep, f"tracking.uri={uri}", f"hydra.sweep.dir={tmp_path / 'sweep'}",
                                      "hydra/sweeper=grid", "optimizer.lr=0.01,0.003", "hydra.sweeper.model_name=e2e"],
                                     capfd)
    assert code == 0, out[-3000:]
    parent, children = sweep_runs(uri)
    client = mlflow.MlflowClient(uri)
    assert "registered as e2e" in out, out[-3000:]
    version = client.get_model_version_by_alias("e2e", "champion")
    assert version.run_id == parent.data.tags["best.run_id"] in {c.info.run_id for c in children}
    assert parent.data.tags["registered_model.version"] == str(version.version)
    assert "report/report.html" in {a.path for a in client.list_artifacts(parent.info.run_id, "report")}
    assert (tmp_path / "sweep" / "report" / "report.html").exists()
