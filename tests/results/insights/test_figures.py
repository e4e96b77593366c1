"""The interactive figures: drawn for every sweep shape, on the space's scales, every trial's curve included."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.results.insights import figures as f
from pipeline.results.insights.importance import Importance, importance_note
from pipeline.results.report import interactive_figures
from tests.results.insights.test_plots import MIXED, SPACE, history


@pytest.mark.parametrize("states", [MIXED, ["failed", "interrupted"], []], ids=["mixed", "no-complete", "empty"])
def test_every_figure_is_drawn_for_every_sweep(states):
    h = history(states)
    figs = interactive_figures(h, None, {}, importance_note(h, None))
    assert list(figs) == ["history", "parallel", "slices", "contour", "intermediate", "ecdf", "timeline",
                          "importance"]
    for fig in figs.values():
        fig.to_json()  # valid for plotly.js
    if states != MIXED:
        assert "no complete trial yet" in figs["parallel"].layout.annotations[0].text


def test_history_has_complete_pruned_and_the_best_so_far():
    fig = f.history_figure(history(MIXED))
    assert [t.name for t in fig.data] == ["complete", "pruned", "best so far"]
    assert list(fig.data[2].y)[-1] == pytest.approx(0.5 + 0.04 * 6)  # trial 6 is the best, maximizing


def test_parallel_coordinates_one_axis_per_parameter_and_the_objective():
    fig = f.parallel_figure(history(MIXED))
    dims = fig.data[0].dimensions
    assert [d.label for d in dims] == ["optimizer.lr (log)", "model.name", "model.hidden_dim", "cv val_accuracy"]
    assert len(dims[0].values) == 4 and list(dims[1].ticktext) == ["mlp", "cnn"]
    assert np.allclose(10 ** np.array(dims[0].values), [1e-4 * 10 ** (3 * k / 7) for k in (6, 5, 2, 0)])  # best first


def test_slices_follow_the_search_space():
    fig = f.slice_figure(history(MIXED))
    assert fig.layout.xaxis.type == "log" and list(fig.layout.xaxis2.ticktext) == ["mlp", "cnn"]
    assert fig.layout.xaxis3.title.text == "model.hidden_dim" and len(fig.data) == 3


def test_contour_of_the_two_most_important_parameters():
    h = history(["complete"] * 8)
    imp = Importance("m", tuple(SPACE.names), np.array([0.1, 0.3, 0.6]), np.zeros(3), 1.0, 8)
    fig = f.contour_figure(h, imp)
    assert fig.layout.xaxis.title.text == "model.hidden_dim" and fig.layout.yaxis.title.text == "model.name"
    contour, points = fig.data
    assert np.shape(contour.z) == (2, f.GRID) and len(points.x) == 8
    assert np.nanmin(contour.z) >= 0.5 - 1e-9 and np.nanmax(contour.z) <= 0.5 + 0.04 * 7 + 1e-9
    assert "first two" in f.contour_figure(h, None).layout.title.text


def test_intermediate_values_of_every_trial_one_trace_per_state():
    h = history(MIXED)
    curves = {r.number: [(1, 0.1), (2, 0.2)] for r in h.trials if r.state in ("complete", "pruned", "running")}
    h.step_key = "intermediate/objective"
    fig = f.intermediate_figure(h, curves)
    assert [t.name for t in fig.data] == ["complete (4)", "pruned (1)", "running (1)"]
    assert list(fig.data[1].x) == [1, 2, None] and fig.layout.xaxis.title.text.startswith("step")


def test_ecdf_reaches_one_at_the_largest_value():
    fig = f.ecdf_figure(history(MIXED))
    assert list(fig.data[0].y) == [0.25, 0.5, 0.75, 1.0] and fig.data[0].x[-1] == pytest.approx(0.74)


def test_importance_bars_carry_their_spread_and_the_note():
    imp = Importance("m", ("a", "b"), np.array([0.7, 0.3]), np.array([0.1, 0.4]), 0.9, 12)
    fig = f.importance_figure(imp, "a note")
    assert list(fig.data[0].y) == ["b", "a"] and list(fig.data[0].error_x.array) == [0.4, 0.1]
    assert fig.data[0].marker.color[0] != fig.data[0].marker.color[1]  # the uncertain one drawn pale
    assert fig.layout.annotations[0].text == "a note"
    assert f.importance_figure(None, "5 more needed").layout.annotations[0].text == "5 more needed"
