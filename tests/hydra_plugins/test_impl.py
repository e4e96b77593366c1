"""The sweep loop in this process through Hydra's own runner and basic launcher, with task functions that
return what we choose: batches, telling the optimizer, the parent run's record, failures, credentials."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from hydra_plugins.pipeline_sweeper._optimizer import make_sweep_optimizer
from hydra_plugins.pipeline_sweeper._parent import SweepProgress
from hydra_plugins.pipeline_sweeper._plan import SweepPlan
from hydra_plugins.pipeline_sweeper._wrapup import lost_runs_message as _lost_runs_message
from pipeline.search import SearchSpace
from pipeline.tracking.sweep_run import TrialRecord
from tests.conftest import ROOT, SWEEP_FAST, fresh_store, sweep_runs


def plan_over(grammar: dict, strategy: str, n_trials: int) -> SweepPlan:
    return SweepPlan(strategy=strategy, space=SearchSpace.from_grammar(grammar), fixed=[], n_trials=n_trials)


def test_a_finite_space_within_the_budget_is_run_whole_in_grid_order():
    grammar = {"a": "1,2", "b": "x,y,z"}
    for strategy in ("random", "bayes"):
        planned = plan_over(grammar, strategy, 20)
        opt, plan = make_sweep_optimizer(planned)
        assert plan.n_trials == 6 and opt.ask(6) == [{"a": a, "b": b} for a in (1, 2) for b in "xyz"]
        assert planned.n_trials == 20  # the plan it was given is not changed
    opt, plan = make_sweep_optimizer(plan_over(grammar, "random", 4))  # a budget smaller than the space: random
    points = opt.ask(4)
    assert plan.n_trials == 4 and len({json.dumps(p) for p in points}) == 4
    assert points != [{"a": a, "b": b} for a in (1, 2) for b in "xyz"][:4]


def test_progress_counts_ended_trials_by_state():
    p = SweepProgress([TrialRecord(0, {}, "complete", 1.0), TrialRecord(1, {}, "failed"),
                       TrialRecord(2, {}, "pruned", 0.5), TrialRecord(3, {}, "complete")])
    assert p.counts() == {"complete": 2, "pruned": 1, "failed": 1} and p.ended == 4


def test_lost_runs_message_names_the_store_and_what_was_found():
    plan = plan_over({}, "grid", 3).replace(uri="http://alice:pw@db:5000")
    records = [TrialRecord(0, {}, "complete", 1.0), TrialRecord(1, {}, "complete", 2.0), TrialRecord(2, {}, "failed")]
    text = _lost_runs_message(plan, "p1", records, {0: "r0"})
    assert text.startswith("1 of 2 trials that ran have no run in the sweep's store http://***@db:5000")
    assert "holds 1 child runs of sweep p1" in text and "[1]" in text and "pw" not in text
    assert _lost_runs_message(plan, "p1", records, {0: "r0", 1: "r1"}) is None


# -- the loop, in process --------------------------------------------------------------------------------
def sweep(runner, tmp_path, task, *overrides):
    return runner(calling_file=None, calling_module="hydra.test_utils.a_module", task_function=task,
                  config_path="configs", config_name="compose.yaml", temp_dir=str(tmp_path / "sweep"),
                  overrides=["hydra.sweeper.report=false", *overrides])


@pytest.fixture
def store(monkeypatch, tmp_path, store_template):
    uri = fresh_store(store_template, tmp_path / "store")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri


@pytest.mark.usefixtures("hydra_restore_singletons")
def test_bayes_learns_from_every_batch_and_records_the_sweep(hydra_sweep_runner, tmp_path, store):
    seen = []

    def task(cfg):
        seen.append(float(cfg.x))
        return (cfg.x - 0.3) ** 2

    with sweep(hydra_sweep_runner, tmp_path, task, "hydra/sweeper=bayes", "+x=interval(0, 1)",
               "hydra.sweeper.n_trials=7", "hydra.sweeper.n_initial=3", "hydra.sweeper.n_jobs=2") as s:
        assert [len(b) for b in s.returns] == [2, 2, 2, 1]  # bayes launches n_jobs trials at a time
        results = yaml.safe_load((Path(s.temp_dir) / "optimization_results.yaml").read_text())
    parent, children = sweep_runs(store)
    from pipeline.tracking import runs

    by_number = runs.launched(parent.data.tags, children)  # on each trial's run, made at launch
    launched = [by_number[k]["+x"] for k in range(7)]
    assert not [t for t in parent.data.tags if t.startswith("trial.")]  # nothing per trial on the parent
    assert sorted(launched) == sorted(seen) and len(set(launched)) == 7
    assert parent.data.metrics["best_value"] == min((x - 0.3) ** 2 for x in seen)
    assert min(abs(x - 0.3) for x in seen[3:]) < min(abs(x - 0.3) for x in seen[:3])  # the model helps
    assert [c.data.metrics["value"] for c in children] == [(x - 0.3) ** 2 for x in launched]
    assert results["best_command"].startswith("python ") and results["n_trials"]["complete"] == 7


@pytest.mark.usefixtures("hydra_restore_singletons")
def test_too_many_failures_stop_the_sweep_with_exit_code_1(hydra_sweep_runner, tmp_path, store):
    def task(cfg):
        raise RuntimeError("always")

    with pytest.raises(SystemExit) as e:
        with sweep(hydra_sweep_runner, tmp_path, task, "hydra/sweeper=random", "+x=interval(0, 1)",
                   "hydra.sweeper.n_trials=8", "hydra.sweeper.max_failure_rate=0.25"):
            pass
    assert e.value.code == 1
    parent, children = sweep_runs(store)
    assert parent.info.status == "FAILED" and all(c.info.status == "FAILED" for c in children)


@pytest.mark.slow
def test_credentials_in_the_tracking_uri_never_reach_the_console_or_the_sweeps_files(tmp_path, mlflow_server):
    """The sweep's trials get the store without its credentials (their overrides are printed and written to their
    job folders); the credentials stay in the environment, where MLflow's client reads them."""
    secret = mlflow_server.replace("http://", "http://alice:s3cr3t-pw@")
    args = [*SWEEP_FAST, f"tracking.uri={secret}", "tracking.experiment=secret-sweep", "hydra/sweeper=grid",
            "optimizer.lr=0.01,0.02", f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    proc = subprocess.run([sys.executable, str(ROOT / "train.py"), "-m", *args], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    files = [p.read_text(errors="ignore") for p in (tmp_path / "sweep").rglob("*") if p.is_file()]
    assert len(files) > 5 and not any("s3cr3t" in text for text in [proc.stdout, proc.stderr, *files])
    exp = MlflowClient(mlflow_server).get_experiment_by_name("secret-sweep")
    runs = MlflowClient(mlflow_server).search_runs([exp.experiment_id])
    assert len(runs) == 3 and all(r.info.status == "FINISHED" for r in runs)
    assert not any("s3cr3t" in v for r in runs for v in [*r.data.params.values(), *r.data.tags.values()])


@pytest.mark.usefixtures("hydra_restore_singletons")
def test_a_grid_runs_whole_by_default_and_a_smaller_budget_covers_every_value(hydra_sweep_runner, tmp_path, store,
                                                                              capfd):
    seen = []

    def task(cfg):
        seen.append((cfg.a, cfg.b, cfg.c))
        return float(cfg.a + cfg.b + cfg.c)

    grid = ["hydra/sweeper=grid", "+a=1,2,3", "+b=1,2,3", "+c=1,2,3"]
    with sweep(hydra_sweep_runner, tmp_path / "whole", task, *grid):
        pass
    assert len(set(seen)) == len(seen) == 27  # not cut to the default n_trials of random and bayes
    seen.clear()
    with sweep(hydra_sweep_runner, tmp_path / "cut", task, *grid, "hydra.sweeper.n_trials=6"):
        pass
    assert len(set(seen)) == 6
    for k in range(3):
        assert sorted(Counter(p[k] for p in seen).values()) == [2, 2, 2], seen  # every value, equally often
    assert "The grid has 27 points and n_trials=6: 21 points are left out" in "".join(capfd.readouterr())


@pytest.mark.slow
def test_a_trial_failing_before_its_run_exists_is_recorded_and_its_repeating_error_stops_the_sweep(tmp_path,
                                                                                                   capfd):
    """``data=mnist`` without its files, the sweep's own checks switched off: the first trial fails while loading
    its data, gets a FAILED child run with the whole error, and the sweep stops there with that error as its line
    (every other trial would fail the same way)."""
    from tests.conftest import run_train_in_process

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    code, out = run_train_in_process(["-m", *SWEEP_FAST, "data=mnist", f"data.root={tmp_path / 'nodata'}",
                                      "hydra.sweeper.check=null", "hydra.sweeper.n_trials=4",
                                      "hydra.sweeper.strategy=random", f"tracking.uri={uri}",
                                      f"hydra.sweep.dir={tmp_path / 'sweep'}"], capfd)
    assert code == 1 and "Traceback" not in out
    [line] = [line for line in out.splitlines() if "every trial would repeat" in line]
    assert "trial 0 failed" in line and "mnist" in line
    parent, children = sweep_runs(uri)
    assert parent.info.status == "FAILED" and len(children) == 1
    [child] = children
    assert child.info.status == "FAILED" and child.data.tags["trial.number"] == "0"
    assert "dataset 'mnist' not found" in child.data.tags["error"] and child.info.run_name == "trial-000 failed"

