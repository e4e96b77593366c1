"""Several objectives and constraints end to end, in real subprocesses on real stores: a foreign app returning a
mapping or a sequence, under the basic and the joblib launcher; this project's trials with pruning, the registry
and a resume after a kill."""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path

import numpy as np
import pytest
import yaml

from pipeline.search.pareto import hypervolume, non_dominated
from tests.conftest import SWEEP_FAST, mlflow_runs, sweep_runs
from tests.hydra_plugins.test_any_app import run_app

APP = '''
import math, hydra

@hydra.main(version_base="1.3", config_path=".", config_name="config")
def main(cfg):
    f1 = cfg.x
    g = 1 + 9 * cfg.y
    f2 = g * (1 - math.sqrt(f1 / g))
    if cfg.returns == "sequence":
        return [f1, f2, cfg.y]
    return {"f1": f1, "f2": f2, "size": 100 * cfg.y}

if __name__ == "__main__":
    main()
'''


@pytest.fixture
def app(tmp_path: Path, monkeypatch, store_template) -> tuple[Path, str]:
    from tests.conftest import fresh_store

    uri = fresh_store(store_template, tmp_path / "store")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    folder = tmp_path / "app"
    folder.mkdir()
    (folder / "config.yaml").write_text("x: 0.5\ny: 0.5\nreturns: mapping\n")
    (folder / "app.py").write_text(textwrap.dedent(APP))
    return folder / "app.py", uri


def _front_of(values: dict[int, tuple[float, ...]], signs: tuple[float, ...]) -> set[int]:
    numbers = sorted(values)
    keep = non_dominated(np.array([values[n] for n in numbers]) * np.array(signs))
    return {n for n, k in zip(numbers, keep) if k}


@pytest.mark.slow
def test_two_objectives_and_a_limit_leave_the_front_tagged_and_held_by_the_parent(app):
    script, uri = app
    proc = run_app(script, "hydra/sweeper=random", "x=interval(0,1)", "y=interval(0,1)", "hydra.sweeper.n_trials=12",
                   "hydra.sweeper.objective=[f1,f2]", "hydra.sweeper.direction=[minimize,minimize]",
                   "hydra.sweeper.constraints=[\"size<=60\"]", "hydra.sweeper.select='f2 where f1<=0.5'")
    assert proc.returncode == 0, proc.stderr[-3000:]
    parent, children = sweep_runs(uri)
    assert len(children) == 12 and all(c.info.status == "FINISHED" for c in children)
    values = {int(c.data.tags["trial.number"]): (c.data.metrics["f1"], c.data.metrics["f2"]) for c in children}
    feasible = {int(c.data.tags["trial.number"]) for c in children if c.data.metrics["size"] <= 60}
    assert {int(c.data.tags["trial.number"]) for c in children if c.data.tags["trial.feasible"] == "true"} == feasible
    expected = _front_of({n: v for n, v in values.items() if n in feasible}, (1.0, 1.0))
    tagged = {int(c.data.tags["trial.number"]) for c in children if c.data.tags.get("pareto.front") == "true"}
    assert tagged == expected and tagged <= feasible
    assert set(json.loads(parent.data.tags["pareto.front_trials"])) == expected
    # the hypervolume history: one value per trial, non-decreasing, the last that of the front
    ref = json.loads(parent.data.tags["pareto.reference_point"])
    from mlflow.tracking import MlflowClient

    history = sorted((m.step, m.value) for m in MlflowClient(uri).get_metric_history(parent.info.run_id,
                                                                                      "hypervolume"))
    assert [s for s, _ in history] == list(range(12))
    assert all(b >= a for (_, a), (_, b) in zip(history, history[1:]))
    assert history[-1][1] == pytest.approx(hypervolume(np.array([values[n] for n in expected]), np.array(ref)))
    results = yaml.safe_load((script.parent / "multirun" / "optimization_results.yaml").read_text())
    assert {f["trial"] for f in results["front"]} == expected
    ok = [n for n in expected if values[n][0] <= 0.5]
    if ok:  # the selection rule: the least f2 among front trials with f1 <= 0.5
        assert results["best_trial"] == min(ok, key=lambda n: values[n][1])
        assert parent.data.tags["best.trial"] == str(results["best_trial"])


@pytest.mark.slow
def test_a_sequence_of_three_values_under_two_workers(app):
    script, uri = app
    proc = run_app(script, "hydra/sweeper=evolution", "hydra/launcher=joblib", "hydra.sweeper.n_jobs=2",
                   "x=interval(0,1)", "y=interval(0,1)", "returns=sequence", "hydra.sweeper.n_trials=10",
                   "hydra.sweeper.population=4", "hydra.sweeper.direction=[minimize,minimize,maximize]",
                   "hydra.sweeper.reference_point=[1.1,11,0]")
    assert proc.returncode == 0, proc.stderr[-3000:]
    parent, children = sweep_runs(uri)
    assert len(children) == 10 and parent.info.status == "FINISHED"
    assert json.loads(parent.data.tags["sweep.objectives"]) == ["value_0", "value_1", "value_2"]
    values = {int(c.data.tags["trial.number"]): tuple(c.data.metrics[f"value_{i}"] for i in range(3))
              for c in children}
    tagged = {int(c.data.tags["trial.number"]) for c in children if c.data.tags.get("pareto.front") == "true"}
    assert tagged == _front_of(values, (1.0, 1.0, -1.0))
    # a reference point the user set: the hypervolume is logged as each trial ends, against it
    from mlflow.tracking import MlflowClient

    assert json.loads(parent.data.tags["pareto.reference_point"]) == [1.1, 11, 0]
    history = sorted((m.step, m.value) for m in MlflowClient(uri).get_metric_history(parent.info.run_id,
                                                                                      "hypervolume"))
    assert [s for s, _ in history] == list(range(10))
    losses = np.array([values[n] for n in tagged]) * np.array([1.0, 1.0, -1.0])
    assert history[-1][1] == pytest.approx(hypervolume(losses, np.array([1.1, 11.0, 0.0])))


@pytest.mark.slow
def test_an_objective_the_app_does_not_return_stops_the_sweep_at_the_first_trial(app):
    script, uri = app
    proc = run_app(script, "hydra/sweeper=random", "x=interval(0,1)", "y=interval(0,1)", "hydra.sweeper.n_trials=4",
                   "hydra.sweeper.objective=[f1,nope]")
    assert proc.returncode == 2 and "'f1' has no known direction" in proc.stdout + proc.stderr  # before any trial
    proc = run_app(script, "hydra/sweeper=random", "x=interval(0,1)", "y=interval(0,1)", "hydra.sweeper.n_trials=4",
                   "hydra.sweeper.objective=[f1,nope]", "hydra.sweeper.direction=[minimize,minimize]")
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "without 'nope'" in proc.stdout + proc.stderr and "every trial would repeat" in proc.stdout + proc.stderr


@pytest.mark.slow
def test_accuracy_against_size_with_pruning_a_resume_and_the_front_registered(tmp_path, store_template):
    from mlflow.tracking import MlflowClient

    from tests.conftest import fresh_store
    from tests.hydra_plugins.test_faults import children, kill, popen_train, wait_for

    uri = fresh_store(store_template, tmp_path / "store")
    fast = [a for a in SWEEP_FAST if not a.startswith(("cv.refit", "tracking.log_", "hydra.sweeper.reg"))]
    base = ["-m", *fast, "trainer.epochs=3", f"tracking.uri={uri}", "hydra/sweeper=bayes", "hydra.sweeper.n_trials=7",
            "hydra.sweeper.n_initial=3", "hydra.sweeper.objective=[val_accuracy,n_params]",
            "hydra.sweeper.constraints=[\"n_params<=20000\"]", "hydra.sweeper.pruner=median",
            "hydra.sweeper.n_startup_trials=2", "hydra.sweeper.n_warmup_steps=1",
            "model.hidden_dim=int(interval(4, 96))", "model.num_layers=choice(1,2)",
            "optimizer.lr=tag(log, interval(1e-4, 3e-1))"]
    proc = popen_train(base, tmp_path)
    wait_for(lambda: sum(c.info.status == "FINISHED" for c in children(uri)) >= 3, proc)
    kill(proc)
    parent = sweep_runs(uri)[0]
    proc = popen_train([*base, f"hydra.sweeper.resume={parent.info.run_id}"], tmp_path)
    assert proc.wait(timeout=600) == 0, proc.stderr.read()[-3000:]
    parent, runs = sweep_runs(uri)
    finished = [c for c in runs if c.info.status == "FINISHED"]
    assert parent.info.status == "FINISHED" and len(finished) == 7
    complete = {int(c.data.tags["trial.number"]): c for c in finished if c.data.tags["trial.state"] == "complete"}
    for c in complete.values():  # costs are measured and logged by every trial
        assert c.data.metrics["n_params"] > 0 and c.data.metrics["flops"] > 0
        assert math.isfinite(c.data.metrics["latency_ms"]) and c.data.tags["cost.device"] == "cpu"
    for c in finished:
        if c.data.tags["trial.state"] == "pruned":  # compared on both objectives at every step
            client = MlflowClient(uri)
            assert client.get_metric_history(c.info.run_id, "intermediate/val_accuracy")
    feasible = {n: (c.data.metrics["cv_val_accuracy_mean"], c.data.metrics["n_params"])
                for n, c in complete.items() if c.data.metrics["n_params"] <= 20000}
    front = _front_of(feasible, (-1.0, 1.0))
    assert set(json.loads(parent.data.tags["pareto.front_trials"])) == front
    # every front trial is a registered version tagged with its objectives; @champion: the most accurate of them
    client = MlflowClient(uri)
    versions = client.search_model_versions()
    assert {v.run_id for v in versions} == {complete[n].info.run_id for n in front}
    for v in versions:
        values = json.loads(v.tags["objective.values"])
        assert set(values) == {"val_accuracy", "n_params"} and v.tags["pareto.front"] == "true"
    champion = client.get_model_version_by_alias(versions[0].name, "champion")
    best = max(front, key=lambda n: (feasible[n][0], -n))
    assert champion.run_id == complete[best].info.run_id
    assert len({c.info.run_id for c in mlflow_runs(uri)}) >= 7
