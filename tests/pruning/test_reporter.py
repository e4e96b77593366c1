"""The trial side of pruning against a real SQLite store holding sibling trials."""

from __future__ import annotations

import pytest
from mlflow.tracking import MlflowClient

from pipeline.pruning.reporter import TrialPruned, make_reporter
from pipeline.tracking.names import INTERMEDIATE
from pipeline.tracking.tracker import Tracker


def sweep_with_siblings(uri: str, curves: list[dict[int, float]], rung_tags: list[float] = ()) -> str:
    parent = Tracker.start(uri, "pruning", "sweep", {"sweep.strategy": "random"})
    for i, curve in enumerate(curves):
        sib = Tracker.start(uri, "pruning", f"trial-{i:03d}", {"trial.state": "complete"}, parent.run_id)
        for step, value in curve.items():
            sib.log_metrics({INTERMEDIATE: value}, step=step)
        sib.finish()
    for i, value in enumerate(rung_tags):
        Tracker.start(uri, "pruning", f"running-{i}", {"pruning.rung_0": repr(value)}, parent.run_id)
    return parent.run_id


def reporter(compose_cfg, uri: str, parent: str, *pruning: str):
    cfg = compose_cfg([f"tracking.uri={uri}", "tracking.experiment=pruning", f"tracking.parent_run_id='{parent}'",
                       "trainer.epochs=10", *pruning])
    me = Tracker.start(uri, "pruning", "me", {}, parent)
    return make_reporter(cfg, me), me


def epoch(rep, fold: int, e: int, acc: float) -> None:
    rep.on_epoch_end(fold, e, {"train_loss": 1.0, "val_loss": 1.0, "val_accuracy": acc})


def test_median_pruner_stops_a_bad_trial_after_warmup(compose_cfg, tracking_uri):
    parent = sweep_with_siblings(tracking_uri, [{s: 0.9 for s in range(1, 6)}] * 3)
    rep, me = reporter(compose_cfg, tracking_uri, parent, "pruning.pruner=median", "pruning.n_startup_trials=3",
                       "pruning.n_warmup_steps=2")
    epoch(rep, 0, 1, 0.2)  # step 1: still warming up
    with pytest.raises(TrialPruned) as e:
        epoch(rep, 0, 2, 0.25)
    assert (e.value.step, e.value.fold, e.value.epoch, e.value.value) == (2, 0, 2, 0.25)
    history = MlflowClient(tracking_uri).get_metric_history(me.run_id, INTERMEDIATE)
    assert [(m.step, m.value) for m in history] == [(1, 0.2), (2, 0.25)]


def test_intermediate_value_is_the_running_cv_estimate(compose_cfg, tracking_uri):
    parent = sweep_with_siblings(tracking_uri, [{s: 0.1 for s in range(1, 30)}] * 3)
    rep, me = reporter(compose_cfg, tracking_uri, parent, "pruning.pruner=median", "pruning.n_startup_trials=3")
    epoch(rep, 0, 1, 0.7)
    epoch(rep, 0, 2, 0.8)
    rep.on_fold_end(0, type("Fold", (), {"best_score": 0.8})())
    epoch(rep, 1, 1, 0.6)  # step 10 + 1: (0.8 + 0.6) / 2
    me.flush()
    history = MlflowClient(tracking_uri).get_metric_history(me.run_id, INTERMEDIATE)
    assert [(m.step, round(m.value, 9)) for m in history] == [(1, 0.7), (2, 0.8), (11, 0.7)]


def test_asha_prunes_outside_the_top_third_of_the_rung(compose_cfg, tracking_uri):
    parent = sweep_with_siblings(tracking_uri, [], rung_tags=[0.9, 0.8])
    rep, me = reporter(compose_cfg, tracking_uri, parent, "pruning.pruner=asha", "pruning.min_resource=2",
                       "pruning.reduction_factor=3")
    epoch(rep, 0, 1, 0.1)  # below the first rung (step 2): never pruned
    with pytest.raises(TrialPruned):
        epoch(rep, 0, 2, 0.1)
    assert MlflowClient(tracking_uri).get_run(me.run_id).data.tags["pruning.rung_0"] == "0.1"


def test_asha_promotes_the_best(compose_cfg, tracking_uri):
    parent = sweep_with_siblings(tracking_uri, [], rung_tags=[0.5, 0.6])
    rep, _ = reporter(compose_cfg, tracking_uri, parent, "pruning.pruner=asha", "pruning.min_resource=2")
    for e in range(1, 6):
        epoch(rep, 0, e, 0.95)  # best at rung 0 (step 2); rung 1 is at step 6
    assert rep.rung == 1


def test_no_reporter_without_a_sweep_or_a_pruner(compose_cfg, tracking_uri):
    cfg = compose_cfg([f"tracking.uri={tracking_uri}", "pruning.pruner=median"])
    assert make_reporter(cfg, Tracker.start(tracking_uri, "pruning", "alone")) is None
    cfg = compose_cfg([f"tracking.uri={tracking_uri}"])
    assert make_reporter(cfg, Tracker.start(tracking_uri, "pruning", "alone")) is None
