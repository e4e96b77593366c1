"""Reading sweeps back from real SQLite stores filled by the project's own writers (no training).

``build_sweep`` writes a sweep exactly as the sweeper and the trials do (``SweepRun``, ``Tracker``,
``load_state`` for a resume), in a second; ``test_report`` and ``test_mlflow_server`` reuse it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from pipeline.errors import NonFiniteLossError
from pipeline.results.insights.history import TrialRow, infer_space, load_history, parse_scalar, selection_gap
from pipeline.search.grammar import format_value
from pipeline.search.space import CategoricalParam, FloatParam, IntParam
from pipeline.tracking import lease
from pipeline.tracking.names import TrialState
from pipeline.tracking.sweep_run import (
    SweepRun,
    TrialRecord,
    basic_sweep_parent,
    best_record,
    load_state,
    summarise_basic_parent,
)
from pipeline.tracking.tracker import Tracker

SPACE = {"optimizer.lr": "tag(log,interval(0.0001,0.1))", "model.hidden_dim": "16,32,64"}
FIXED = ["trainer.epochs=3", "cv.folds=2"]


def trial(lr: float, hidden: int, state: str = "complete", value: float | None = None,
          test: float | None = None) -> dict[str, Any]:
    """A trial spec for ``build_sweep``: its parameters, how it ended, its cv and test accuracy."""
    return {"params": {"optimizer.lr": lr, "model.hidden_dim": hidden}, "state": state, "value": value,
            "test": test}


MIXED = [trial(0.01, 32, value=0.90, test=0.88), trial(0.001, 16, value=0.80, test=0.79),
         trial(1e12, 64, "failed"), trial(0.03, 64, "pruned", value=0.5),
         trial(0.02, 64, value=0.93, test=0.89), trial(0.0003, 32, value=0.70, test=0.71)]


def build_sweep(uri: str, trials: list[dict[str, Any]], finish: bool = True, experiment: str = "insights",
                strategy: str = "random") -> str:
    """Write a sweep (parent + one child run per trial, with curves) to ``uri``; returns the parent's id."""
    tags = {"sweep.strategy": strategy, "sweep.space": json.dumps(SPACE), "sweep.direction": "maximize",
            "sweep.seed": "0", "sweep.n_trials": str(len(trials)), "sweep.fixed": json.dumps(FIXED)}
    parent = SweepRun.create(uri, experiment, f"{strategy}-sweep", tags, {"sweep.strategy": strategy})
    records = [write_trial(uri, parent, k, spec, experiment) for k, spec in enumerate(trials)]
    if finish:
        end_sweep(parent, records)
    return parent.run_id


def write_trial(uri: str, parent: SweepRun, number: int, spec: dict[str, Any], experiment: str) -> TrialRecord:
    """One trial as the sweeper launches it (params tag first) and ``pipeline.trial`` logs it."""
    params = spec["params"]
    parent.tracker.set_tags({f"trial.{number}.params": json.dumps(params)})
    overrides = FIXED + [f"{k}={format_value(v)}" for k, v in params.items()]
    overrides += [f"tracking.parent_run_id='{parent.run_id}'", f"tracking.trial_number={number}"]
    child = Tracker.start(uri, experiment, f"trial-{number:03d}", {
        "trial.number": str(number), "objective.metric": "val_accuracy", "hydra.overrides": json.dumps(overrides),
        # the worker's lease; a trial left running has none, else a resume would wait for this live process
        **({"lease": lease.own()} if spec["state"] != "running" else {})}, parent_run_id=parent.run_id)
    child.log_params({**params, "trainer.epochs": 3})
    state, value = spec["state"], spec["value"]
    record = TrialRecord(number, params, state, value, run_id=child.run_id)
    if state in ("complete", "pruned"):
        for epoch in (1, 2, 3):
            child.log_metrics({"cv/val_accuracy": value - 0.1 / epoch, "cv/val_loss": 1.0 / epoch}, step=epoch)
    if state == "complete":
        metrics = {"cv_mean": value, "cv_std": 0.01}
        if spec["test"] is not None:
            metrics.update(test_accuracy=spec["test"], test_loss=1 - spec["test"])
        child.log_metrics(metrics, flush=True)
        child.set_tags({"trial.state": "complete"})
        child.finish()
    elif state == "pruned":
        child.log_metrics({"pruned_value": value}, flush=True)
        child.set_tags({"trial.state": "pruned", "trial.pruned": "true"})
        child.finish()
    elif state == "failed":
        child.fail(NonFiniteLossError("training loss became nan at epoch 1"))
        record.value, record.error = None, "NonFiniteLossError"
    else:  # running: the sweep was killed while this trial ran
        child.flush()
    if state != "running":
        best = best_record([record], "maximize")
        parent.log_trial(record, best and best.value, {"complete": int(state == "complete")})
    return record


def end_sweep(parent: SweepRun, records: list[TrialRecord], status: str = "FINISHED") -> None:
    best = best_record(records, "maximize")
    parent.finish(records, best, {"status": status}, TrialState.of_status(status))


def build_resumed_sweep(uri: str) -> str:
    """Killed while its third trial ran, then resumed as the sweeper does: the trial is re-run as a new job."""
    first = [trial(0.01, 32, value=0.90, test=0.88), trial(0.001, 16, value=0.80, test=0.79),
             trial(0.02, 64, "running")]
    parent_id = build_sweep(uri, first, finish=False)
    state = load_state(uri, parent_id)  # marks the running child KILLED, as a resume does
    parent = SweepRun.reopen(uri, parent_id, lease.own())
    [lost] = state.interrupted
    parent.tracker.set_tags({f"trial.{lost.number}.rerun_as": state.next_number})
    rerun = write_trial(uri, parent, state.next_number, trial(0.02, 64, value=0.93, test=0.9), "insights")
    end_sweep(parent, [*state.ended, rerun])
    return parent_id


def build_basic_sweep(uri: str, folder: Any) -> str:
    """Hydra's basic sweeper: a parent without a recorded space, trials found by their overrides."""
    parent_id = basic_sweep_parent(uri, "insights", folder, "python train.py -m")
    for number, (lr, hidden, value) in enumerate([(0.01, 16, 0.9), (0.001, 16, 0.8), (0.1, 32, 0.6)]):
        overrides = FIXED + [f"optimizer.lr={lr}", f"model.hidden_dim={hidden}"]
        child = Tracker.start(uri, "insights", f"trial-{number:03d}", {
            "trial.number": str(number), "objective.metric": "val_accuracy", "hydra.overrides": json.dumps(overrides)},
            parent_run_id=parent_id)
        child.log_metrics({"cv_mean": value, "cv_std": 0.02}, flush=True)
        child.finish()
        summarise_basic_parent(uri, parent_id, "maximize")
    return parent_id


# -- tests ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mixed(tmp_path_factory, store_template):
    from tests.conftest import fresh_store

    uri = fresh_store(store_template, tmp_path_factory.mktemp("mixed"))
    return uri, build_sweep(uri, MIXED)


def test_one_row_per_trial_with_its_state_value_and_typed_params(mixed):
    history = load_history(*mixed)
    assert [t.number for t in history.trials] == list(range(6))
    assert [t.state for t in history.trials] == ["complete", "complete", "failed", "pruned", "complete", "complete"]
    assert history.trials[2].value is None and "NonFiniteLossError" in history.trials[2].error
    assert history.trials[3].value == 0.5 and history.trials[0].params == {"optimizer.lr": 0.01,
                                                                            "model.hidden_dim": 32}
    assert history.direction == "maximize" and history.metric == "val_accuracy" and history.strategy == "random"
    assert isinstance(history.space["optimizer.lr"], FloatParam) and history.space["optimizer.lr"].log
    assert history.counts() == {"complete": 4, "pruned": 1, "failed": 1, "interrupted": 0, "running": 0}


def test_best_ranking_and_best_so_far_ignore_pruned_and_failed(mixed):
    history = load_history(*mixed)
    assert [r.number for r in history.ranked()] == [4, 0, 1, 5]
    assert history.best_so_far() == [(0, 0.90), (1, 0.90), (4, 0.93), (5, 0.93)]


def test_curves_only_for_the_top_trials(mixed):
    history = load_history(*mixed, top_k=2)
    assert [(r.number, len(r.curve)) for r in history.trials if r.curve] == [(0, 3), (4, 3)]
    assert history.trials[4].curve[-1] == (3, pytest.approx(0.93 - 0.1 / 3))


def test_rows_carry_run_times_worker_and_the_per_step_curve_key(mixed):
    history = load_history(*mixed, top_k=0)
    assert history.step_key == "cv/val_accuracy"  # no pruner logged intermediate/objective
    assert [r.has_steps for r in history.trials] == [True, True, False, True, True, True]
    for r in history.trials:
        assert r.start_ms is not None and r.end_ms is not None and r.start_ms <= r.end_ms
    assert {r.worker for r in history.trials} == {lease.own()}  # host:pid:start of the process that ran it


def test_tidy_table_has_params_as_columns(mixed):
    rows = load_history(*mixed).rows()
    assert list(rows[0])[:7] == ["trial", "state", "value", "cv_std", "test_accuracy", "optimizer.lr",
                                 "model.hidden_dim"]
    assert rows[2]["test_accuracy"] is None and rows[4]["test_accuracy"] == 0.89


def test_selection_gap_is_sign_aware_with_a_median_baseline(mixed):
    gap = selection_gap(load_history(*mixed))
    assert gap.trial == 4 and gap.gap == pytest.approx(0.93 - 0.89)
    assert gap.median_gap == pytest.approx(0.015)  # median of 0.04, 0.02, 0.01, -0.01
    assert gap.optimism == pytest.approx(gap.gap - gap.median_gap)


def test_gap_for_a_minimized_loss_is_test_minus_cv():
    from pipeline.results.insights.history import SweepHistory
    from pipeline.search.space import SearchSpace

    rows = [TrialRow(0, "complete", 0.30, {}, tests={"test_loss": 0.35}), TrialRow(1, "complete", 0.40, {},
                                                                                   tests={"test_loss": 0.38})]
    history = SweepHistory("p", "0", "grid", "minimize", "val_loss", SearchSpace(()), rows)
    gap = selection_gap(history)
    assert gap.trial == 0 and gap.gap == pytest.approx(0.05) and gap.median_gap == pytest.approx(0.015)


def test_resumed_sweep_counts_the_killed_trial_once(tmp_path, new_store):
    uri = new_store(tmp_path)
    history = load_history(uri, build_resumed_sweep(uri))
    assert [(t.number, t.state) for t in history.trials] == [(0, "complete"), (1, "complete"),
                                                             (2, "interrupted"), (3, "complete")]
    assert history.best.number == 3 and history.status == "FINISHED"


def test_basic_sweep_space_is_inferred_from_overrides(tmp_path, new_store):
    uri = new_store(tmp_path / "store")
    history = load_history(uri, build_basic_sweep(uri, tmp_path / "sweep"))
    assert history.strategy == "basic" and history.space.names == ["optimizer.lr", "model.hidden_dim"]
    assert history.space["optimizer.lr"].log and isinstance(history.space["model.hidden_dim"], IntParam)
    assert history.best.params == {"optimizer.lr": 0.01, "model.hidden_dim": 16}


def test_empty_sweep(tmp_path, new_store):
    uri = new_store(tmp_path)
    history = load_history(uri, build_sweep(uri, [trial(1e12, 16, "failed")]))
    assert history.best is None and history.ranked() == [] and selection_gap(history) is None


@pytest.mark.parametrize("text, value", [("16", 16), ("1e-3", 0.001), ("0.5", 0.5), ("true", True),
                                         ("null", None), ("mlp", "mlp"), ("'a b'", "a b")])
def test_parse_scalar(text, value):
    assert parse_scalar(text) == value and type(parse_scalar(text)) is type(value)


def test_infer_space_kinds():
    space = infer_space([{"a": 1, "b": "x", "c": 0.5, "d": 7}, {"a": 3, "b": "y", "c": 500.0, "d": 7}])
    assert space.names == ["a", "b", "c"]  # d never varies
    assert isinstance(space["a"], IntParam) and not space["a"].log
    assert isinstance(space["b"], CategoricalParam) and space["c"].log


def test_a_parent_metric_logged_twice_at_a_step_keeps_its_latest_value():
    """A sweep resumed after its end logs its hypervolume history again: the report reads the latest."""
    from types import SimpleNamespace as Metric

    from pipeline.results.insights.history import _last_per_step

    logged = [Metric(step=1, value=2.0, timestamp=5), Metric(step=0, value=1.0, timestamp=1),
              Metric(step=1, value=1.5, timestamp=3)]
    assert _last_per_step(logged) == [(0, 1.0), (1, 2.0)]
