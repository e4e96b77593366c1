"""The explanation figures: the right axes (log where log-scaled, choices labelled), bands, H^2 titles, ablation steps
labelled measured or predicted, and a figure that says so when there is nothing to show."""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
import pytest

from pipeline import objective
from pipeline.explain.hyper import HyperExplanation, explain_sweep
from pipeline.explain.hyper_figures import (
    ablation_figure,
    dependence_figure,
    importance_per_objective_figure,
    interaction_figure,
    pair_figure,
)
from pipeline.results.insights.history import SweepHistory, TrialRow
from pipeline.search.space import SearchSpace

SPACE = SearchSpace.from_grammar({"lr": "tag(log, interval(1e-4, 1e-1))", "opt": "choice(sgd,adam)",
                                  "x": "interval(0,1)"})
FAST = {"n_background": 32, "n_grid": 6, "n_pair_grid": 4}


def history(n: int = 24) -> SweepHistory:
    points = SPACE.decode(np.random.default_rng(0).random((n, SPACE.dim)))
    rows = [TrialRow(k, "complete", None, p, values=((math.log10(p["lr"]) + 2.5) ** 2 + (p["opt"] == "sgd"),
                                                     p["x"] * (1 + p["x"] * (p["opt"] == "adam"))))
            for k, p in enumerate(points)]
    return SweepHistory("parent", "0", "bayes", "minimize", None, SPACE, rows,
                        goals=objective.Objectives(("loss", "latency"), ("minimize", "minimize")))


@pytest.fixture(scope="module")
def expls() -> list[HyperExplanation]:
    return explain_sweep(history(), {"lr": 1e-2, "opt": "sgd", "x": 0.5}, **FAST)


def axis_of(fig: go.Figure, trace: go.BaseTraceType) -> go.layout.XAxis:
    return fig.layout["xaxis" + trace.xaxis.removeprefix("x")]


def test_dependence_panels_in_order_of_importance_with_bands_and_their_own_axes(expls):
    expl = expls[0]
    fig = dependence_figure(expl)
    titles = [a.text for a in fig.layout.annotations]
    assert [t.split(" ")[0] for t in titles] == [d.name for d in expl.dependences]
    assert titles[0].startswith(expl.importance.ranked()[0][0]) and "importance" in titles[0]
    lines = {t.xaxis: t for t in fig.data if t.mode == "lines"}
    bands = [t for t in fig.data if t.fill == "toself"]
    assert len(bands) == len(lines) == 2  # lr and x: a mean line and its band each
    lr_axis = axis_of(fig, next(t for t in fig.data if t.mode == "lines" and max(t.x) < 1e-0 and min(t.x) < 1e-3))
    assert lr_axis.type == "log" and "log" in lr_axis.title.text
    opt = next(t for t in fig.data if t.mode == "markers" and t.error_y.array is not None)
    assert list(axis_of(fig, opt).ticktext) == ["sgd", "adam"] and list(opt.x) == [0, 1]
    observed = [t for t in fig.data if t.mode == "markers" and t.error_y.array is None]
    assert len(observed) == 3 and all(len(t.x) == expl.n_trials for t in observed)
    assert fig.layout.yaxis.title.text == "loss"


def test_pairs_interactions_and_the_ablation_path(expls):
    expl = expls[1]
    fig = pair_figure(expl)
    heatmaps = [t for t in fig.data if t.type == "heatmap"]
    assert len(heatmaps) == len(expl.pairs) >= 1
    assert all(f"H<sup>2</sup> = {p.h2:.2f}" in a.text for p, a in zip(expl.pairs, fig.layout.annotations))
    np.testing.assert_allclose(heatmaps[0].z, expl.pairs[0].mean.T)
    bars = interaction_figure(expl).data[0]
    assert sorted(bars.x) == sorted(p.h2 for p in expl.pairs)
    fig = ablation_figure(expl)
    marked = {t.name: t for t in fig.data if t.mode == "markers+text"}
    assert "measured" in marked and marked["measured"].text[-1] == f"measured (trial {expl.ablation[-1].trial}), " \
                                                                    f"gain {expl.ablation[-1].gain:+.3g}"
    if "predicted" in marked:
        assert marked["predicted"].error_y.visible and all(t.startswith("predicted") for t in marked["predicted"].text)
    assert len(fig.data[0].x) == len(expl.ablation) and fig.data[0].x[0] == "0. default"


def test_importance_per_objective_groups_a_bar_per_objective(expls):
    fig = importance_per_objective_figure(expls)
    assert [t.name for t in fig.data] == ["loss", "latency"] and fig.layout.barmode == "group"
    for trace, expl in zip(fig.data, expls):
        assert list(trace.x) == list(SPACE.names)
        np.testing.assert_allclose(trace.y, expl.importance.values)
        np.testing.assert_allclose(trace.error_y.array, expl.importance.std)
    fig.to_json()  # serialisable


def test_with_nothing_to_show_each_figure_says_why():
    (expl,) = explain_sweep(SweepHistory("p", "0", "random", "minimize", None, SPACE,
                                         [TrialRow(0, "complete", 1.0, {"lr": 1e-3, "opt": "sgd", "x": 0.1})]), None)
    for draw in (dependence_figure, pair_figure, interaction_figure, ablation_figure):
        fig = draw(expl)
        assert not fig.data and "Not explained" in fig.layout.annotations[0].text
    assert "Not explained" in importance_per_objective_figure([expl]).layout.annotations[0].text
