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


def test_intermediate_values_one_line_per_trial_coloured_by_its_objective_in_a_legend_by_state():
    h = history(MIXED)
    curves = {r.number: [(1, 0.1), (2, 0.2)] for r in h.trials if r.state in ("complete", "pruned", "running")}
    h.step_key = "intermediate/objective"
    fig = f.intermediate_figure(h, curves)
    assert [t.name for t in fig.data] == ["trial 0 0.5", "trial 2 0.58", "trial 3 0.62", "trial 5 0.7",
                                          "trial 6 0.74", "trial 7"]
    assert [t.legendgroup for t in fig.data] == ["complete", "complete", "pruned", "complete", "complete", "running"]
    colours = [t.line.color for t in fig.data[:5]]
    assert len(set(colours)) == 5 and fig.data[2].line.dash == "dot"  # a colour per objective; pruned dotted
    assert all(t.showlegend is not False for t in fig.data) and fig.layout.xaxis.title.text.startswith("step")


def test_intermediate_values_of_many_trials_one_trace_per_state():
    h = history(["complete"] * (f.MAX_LINES + 1) + ["pruned"])
    curves = {r.number: [(1, 0.1), (2, 0.2)] for r in h.trials}
    fig = f.intermediate_figure(h, curves)
    assert [t.name for t in fig.data] == [f"complete ({f.MAX_LINES + 1})", "pruned (1)"]
    assert list(fig.data[1].x) == [1, 2, None]


def test_one_outlier_does_not_stretch_the_colour_scale():
    values = [0.90, 0.91, 0.92, 0.93, 0.94, 0.95, 0.96, 0.97, 0.98, 0.99, 0.10]  # one diverged trial
    low, high, clipped = f.colour_range(values, sign=-1.0)  # maximize: the best is the highest
    assert clipped and high == 0.99 and low > 0.85  # the good trials span the scale, the outlier is clipped
    assert f.colour_range([1.0, 2.0], sign=1.0) == (1.0, 2.0, False)  # too few trials to clip


def test_parallel_axes_cover_the_searched_range_with_room_for_their_titles():
    fig = f.parallel_figure(history(MIXED))
    lr, _, hidden, value = fig.data[0].dimensions
    assert lr.range[0] < -4 and lr.range[1] > -1 and list(lr.tickvals) == [-4, -3, -2, -1]
    assert hidden.range[0] < 16 and hidden.range[1] > 64
    assert fig.data[0].line.cmin is not None and "clipped" not in fig.data[0].line.colorbar.title.text  # 4 trials


def test_early_trials_are_visible_in_slices():
    fig = f.slice_figure(history(MIXED))
    first = fig.data[0].marker.colorscale[0][1]  # the colour of trial 0
    assert first.lower() not in ("#ffffff", "rgb(255,255,255)", "rgb(247,251,255)")


def test_the_contour_fills_every_trial_s_cell():
    h = history(["complete"] * 8)
    contour, points = f.contour_figure(h, None).data
    assert not np.isnan(np.asarray(contour.z, dtype=float)).any()


def test_importance_axis_starts_at_zero_and_the_spread_stops_there():
    imp = Importance("m", ("a", "b"), np.array([0.7, 0.05]), np.array([0.1, 0.4]), 0.9, 12)
    fig = f.importance_figure(imp, "")
    assert fig.layout.xaxis.range[0] == 0 and list(fig.data[0].error_x.arrayminus) == [0.05, 0.1]


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


def test_a_conditional_parameters_axis_shows_where_it_did_not_apply():
    from tests.results.insights.test_importance import conditional_sweep

    h = conditional_sweep(n=20)
    dims = {d["label"]: d for d in f.parallel_figure(h).data[0].dimensions}
    channels, family = dims["model.channels"], dims["model"]
    rows = h.ranked()
    slot = channels["tickvals"][0]
    assert channels["ticktext"][0] == "inactive" and channels["range"][0] < slot < 4  # below the searched 4..64
    for r, v in zip(rows, channels["values"]):
        assert (v == slot) == (r.params["model"] == "mlp")
    assert "inactive" not in family["ticktext"]  # the root is always active
