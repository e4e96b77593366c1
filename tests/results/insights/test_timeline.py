"""Workers on the timeline: the recorded worker of each trial, else the fewest non-overlapping lanes."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.results.insights.history import SweepHistory, TrialRow
from pipeline.results.insights.timeline import lanes, timeline_figure, workers
from pipeline.search.space import SearchSpace


def test_lanes_never_overlap_and_are_as_few_as_the_peak_concurrency():
    rng = np.random.default_rng(0)
    starts = rng.uniform(0, 100, 200)
    spans = [(s, s + d) for s, d in zip(starts, rng.uniform(1, 20, 200))]
    lane = lanes(spans)
    for k in set(lane):
        mine = sorted(s for s, owner in zip(spans, lane) if owner == k)
        assert all(a[1] <= b[0] for a, b in zip(mine, mine[1:]))
    peak = max(sum(s <= t < e for s, e in spans) for t, _ in spans)
    assert len(set(lane)) == peak


def test_back_to_back_trials_share_a_lane():
    assert lanes([(0, 10), (10, 20), (5, 15)]) == [0, 0, 1]


def rows(worker: str = "") -> list[TrialRow]:
    return [TrialRow(k, s, None, {}, run_id=f"r{k}", start_ms=t0, end_ms=t1, worker=worker and f"{worker}{k % 2}:99")
            for k, (s, t0, t1) in enumerate([("complete", 0, 10_000), ("failed", 2_000, 4_000),
                                             ("complete", 10_000, 20_000), ("running", 12_000, None)])]


def test_recorded_workers_are_the_rows_else_packed_lanes():
    spans = [(0, 10_000), (2_000, 4_000), (10_000, 20_000), (12_000, 30_000)]
    assert workers(rows("host:"), spans) == ["host:0", "host:1", "host:0", "host:1"]
    assert workers(rows(), spans) == ["lane 0", "lane 1", "lane 0", "lane 1"]


@pytest.mark.parametrize("worker", ["", "host:"])
def test_timeline_has_a_bar_per_started_trial_and_a_running_one_ends_now(worker):
    h = SweepHistory("p", "0", "random", "maximize", "val_accuracy", SearchSpace(()), rows(worker))
    fig = timeline_figure(h, now_ms=50_000)
    assert sorted(t.name for t in fig.data) == ["complete", "failed", "running"]
    running = next(t for t in fig.data if t.name == "running")
    assert list(running.x) == [38_000] and list(running.text) == ["trial 3"]
    assert "2 workers" in fig.layout.title.text
