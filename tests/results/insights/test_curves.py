"""Every trial's per-step curve from a real store: pruned trials included, threads equal one by one, cached once
ended."""

from __future__ import annotations

import pytest

from pipeline.results.insights.curves import CurveCache, fetch_curves
from pipeline.results.insights.history import load_history
from pipeline.tracking.store import get_client
from tests.results.insights.test_history import MIXED, build_sweep, trial


@pytest.fixture(scope="module")
def store(tmp_path_factory, store_template):
    from tests.conftest import fresh_store

    uri = fresh_store(store_template, tmp_path_factory.mktemp("curves"))
    killed = build_sweep(uri, [*MIXED[:2], trial(0.02, 64, "running")], finish=False)
    running = load_history(uri, killed, top_k=0).trials[2]
    get_client(uri).log_metric(running.run_id, "cv/val_accuracy", 0.7, step=1)  # its first epoch
    return uri, build_sweep(uri, MIXED), killed


def test_every_trial_with_steps_pruned_included(store):
    uri, pid, _ = store
    history = load_history(uri, pid, top_k=0)
    curves = fetch_curves(get_client(uri), uri, history)
    assert sorted(curves) == [0, 1, 3, 4, 5]  # trial 2 failed before its first epoch
    assert curves[3] == [(1, pytest.approx(0.4)), (2, pytest.approx(0.45)), (3, pytest.approx(0.5 - 0.1 / 3))]
    assert fetch_curves(get_client(uri), uri, history, workers=1) == curves


def test_ended_trials_are_cached_running_ones_fetched_again(store):
    uri, _, killed = store
    history, cache = load_history(uri, killed, top_k=0), CurveCache()
    first = fetch_curves(get_client(uri), uri, history, cache)
    assert sorted(first) == [0, 1, 2] and len(cache) == 2  # the running trial is not kept
    assert history.trials[2].state == "running" and first[2] == [(1, 0.7)]

    class OnlyRunning:
        def get_metric_history(self, run_id, key):
            assert run_id == history.trials[2].run_id, "an ended trial was fetched again"
            return get_client(uri).get_metric_history(run_id, key)

    assert fetch_curves(OnlyRunning(), uri, history, cache) == first


def test_no_step_key_no_curves(store):
    uri, pid, _ = store
    history = load_history(uri, pid, top_k=0)
    history.step_key = None
    assert fetch_curves(get_client(uri), uri, history) == {}
