"""The Pareto front's figures: the front's trials marked as such and joined in the objectives' directions,
infeasible trials drawn apart, parallel coordinates for three objectives, the hypervolume as recorded; nothing of
it for a sweep with one objective."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from pipeline import objective
from pipeline.results.insights import front as fr
from pipeline.results.insights import plots
from pipeline.results.insights.history import SweepHistory, TrialRow
from pipeline.results.insights.html import FRONT_SECTIONS, SECTIONS, render_html
from pipeline.results.insights.importance import importance_note
from pipeline.results.report import interactive_figures, summary_text
from pipeline.search.space import SearchSpace
from tests.results.insights.test_plots import PNG
from tests.results.insights.test_plots import history as single_history

SPACE = SearchSpace.from_grammar({"x": "interval(0, 1)", "model.width": "int(interval(8, 64))"})
LIMIT = objective.Constraint("size", "<=", 60.0)
# (state, f1 to minimize, f2 to maximize, f3 to minimize, size): trial 3 would dominate all but breaks the limit
TRIALS = [("complete", 0.2, 0.5, 0.3, 10.0), ("complete", 0.5, 0.9, 0.2, 20.0), ("complete", 0.3, 0.4, 0.4, 30.0),
          ("complete", 0.1, 0.95, 0.1, 90.0), ("complete", 0.8, 1.0, 0.5, 40.0), ("failed", None, None, None, None),
          ("complete", 0.6, 0.7, 0.6, 50.0), ("complete", 0.4, 0.3, 0.05, 75.0)]
FRONT_2, INFEASIBLE = [0, 1, 4], [3, 7]
FRONT_3 = [0, 1, 4]  # f3 adds nobody: trial 2 and 6 are dominated in f3 too, and 7 (f3 best) is infeasible
HYPERVOLUME = [(0, 0.4), (1, 0.55), (2, 0.55), (3, 0.55), (4, 0.6), (5, 0.6), (6, 0.6), (7, 0.6)]


def multi_history(n_objectives: int = 2, limits: tuple = (LIMIT,)) -> SweepHistory:
    """A sweep of ``TRIALS`` with 2 (f1 min, f2 max) or 3 objectives (and f3 min), under ``limits``."""
    labels, directions = ("f1", "f2", "f3")[:n_objectives], ("minimize", "maximize", "minimize")[:n_objectives]
    rows = []
    for k, (state, *values, size) in enumerate(TRIALS):
        row = TrialRow(k, state, values[0], {"x": 0.1 * k, "model.width": 8 + k}, run_id=f"run{k}")
        if state == "complete":
            row.values = tuple(values[:n_objectives])
            row.named = {"size": size}
            row.feasible = all(c.met(size) for c in limits)
        rows.append(row)
    h = SweepHistory("parent", "5", "random", "minimize", None, SPACE, rows,
                     goals=objective.Objectives(labels, directions), constraints=tuple(limits),
                     reference_point=(1.0, 0.0, 1.0)[:n_objectives], hypervolume=list(HYPERVOLUME))
    return h


def traces(fig) -> dict[str, object]:
    return {t.name.split(":")[0]: t for t in fig.data}


def numbers(trace) -> list[int]:
    """The trial numbers a trace draws, read from its hover text (``<b>trial-007</b> ...``)."""
    return [int(re.match(r"<b>trial-(\d+)</b>", t).group(1)) for t in trace.text]


def test_two_objectives_mark_exactly_the_front_and_draw_infeasible_trials_hollow():
    h = multi_history()
    assert [r.number for r in h.front()] == FRONT_2
    found = traces(fr.front_figure(h))
    assert list(found) == [fr.INFEASIBLE, fr.FEASIBLE, fr.FRONT, "selected"]
    assert sorted(numbers(found[fr.FRONT])) == FRONT_2
    assert sorted(numbers(found[fr.INFEASIBLE])) == INFEASIBLE
    assert sorted(numbers(found[fr.FEASIBLE])) == [2, 6]  # the failed trial 5 has no point
    assert found[fr.INFEASIBLE].marker.symbol == "circle-open" and found[fr.FEASIBLE].marker.symbol == "circle"
    assert found[fr.FRONT].mode == "lines+markers" and found[fr.FRONT].line.shape == "hv"
    assert numbers(found["selected"]) == [0] and h.best.number == 0


@pytest.mark.parametrize("directions", [("minimize", "maximize"), ("maximize", "minimize"), ("maximize", "maximize"),
                                        ("minimize", "minimize")])
def test_the_front_is_joined_as_the_step_it_dominates_in_each_objectives_direction(directions):
    h = multi_history()
    flip = np.array(h.goals.signs()) * objective.Objectives(("f1", "f2"), directions).signs()
    for r in h.trials:  # the same trials, seen in the other directions: the same front
        r.values = None if r.values is None else tuple(np.array(r.values) * flip)
    h.goals = objective.Objectives(("f1", "f2"), directions)
    line = traces(fr.front_figure(h))[fr.FRONT]
    s1, s2 = h.goals.signs()
    l1, l2 = s1 * np.array(line.x), s2 * np.array(line.y)
    # "hv" goes across to the next point, then up or down: each corner (x[i+1], y[i]) is dominated by both
    # neighbours exactly when the first loss never falls and the second never rises along the line
    assert sorted(numbers(line)) == FRONT_2 and len(line.x) == 3
    assert np.all(np.diff(l1) >= 0) and np.all(np.diff(l2) <= 0)


def test_hover_names_the_trial_its_values_the_broken_limit_and_parameters_and_a_click_has_its_run():
    found = traces(fr.front_figure(multi_history()))
    text = found[fr.INFEASIBLE].text[0]
    assert text.startswith("<b>trial-003</b> (infeasible)")
    for part in ["f1=0.1", "f2=0.95", "size=90", "broke size&lt;=60 (size=90)", "x=0.30000000000000004",
                 "model.width=11"]:
        assert part in text
    assert list(found[fr.FRONT].customdata) == [f"#/experiments/5/runs/run{k}" for k in (0, 1, 4)]


def test_three_objectives_are_parallel_coordinates_with_the_front_coloured_apart():
    h = multi_history(3)
    par = fr.front_figure(h).data[0]
    assert par.type == "parcoords"
    assert [d.label for d in par.dimensions] == ["trial", "f1 (minimize)", "f2 (maximize)", "f3 (minimize)"]
    trial, codes = list(par.dimensions[0].values), list(par.line.color)
    assert sorted(n for n, c in zip(trial, codes) if c == fr.GROUP_CODE[fr.FRONT]) == FRONT_3
    assert sorted(n for n, c in zip(trial, codes) if c == fr.GROUP_CODE[fr.INFEASIBLE]) == INFEASIBLE
    assert trial[-len(FRONT_3):] == FRONT_3  # drawn last: on top
    assert list(par.dimensions[2].values)[trial.index(4)] == 1.0


def test_hypervolume_is_the_recorded_history_against_the_stated_reference_point():
    fig = fr.hypervolume_figure(multi_history())
    assert list(fig.data[0].x) == [s for s, _ in HYPERVOLUME] and list(fig.data[0].y) == [v for _, v in HYPERVOLUME]
    assert "(f1=1, f2=0)" in fig.layout.title.text
    h = multi_history()
    h.hypervolume = []  # mid-sweep: the parent records it at the end
    assert "when the sweep ends" in fr.hypervolume_figure(h).layout.annotations[0].text


def test_no_complete_trial_yet_says_so():
    h = multi_history()
    for r in h.trials:
        r.state, r.values = "running", None
    assert "no complete trial" in fr.front_figure(h).layout.annotations[0].text


def test_the_page_has_the_front_its_trials_and_the_feasible_split_first():
    h = multi_history()
    note = importance_note(h, None)
    figs = interactive_figures(h, None, {}, note)
    assert list(figs)[:2] == ["front", "hypervolume"]
    page = render_html(h, None, None, figs, "sqlite:////tmp/x.db", note, "/* plotly.js */")
    nav = re.search(r"<nav>(.*)</nav>", page).group(1)
    assert re.findall(r'href="#(\w+)"', nav) == [a for a, _, _ in (*FRONT_SECTIONS, *SECTIONS)] + ["trials"]
    front = page.split('<section id="front">', 1)[1].split("</section>", 1)[0]
    assert "plotly_click" in front  # a click opens the point's run
    listed = re.findall(r'data-run="#/experiments/5/runs/run(\d+)"[^>]*>trial-\d+</a>', front.split(
        'id="feasibility"')[0])
    assert listed == ["0", "1", "4"] and "trial-000</a> (selected)" in front
    split = front.split('id="feasibility"', 1)[1]
    assert "5 feasible, 2 infeasible of 7 complete trials" in split
    assert re.findall(r"trial-(\d+)</a></td><td>([^<]*)</td>", split) == [
        ("003", "size&lt;=60 (size=90)"), ("007", "size&lt;=60 (size=75)")]
    assert "<td>objectives</td><td>f1 (minimize), f2 (maximize)</td>" in page


def test_without_constraints_every_trial_is_feasible():
    h = multi_history(limits=())
    assert fr.groups(h)[fr.INFEASIBLE] == [] and sorted(r.number for r in h.front()) == [3, 4]
    page = render_html(h, None, None, {"front": fr.front_figure(h)}, "sqlite:////tmp/x.db", "", "")
    assert "No constraints: all 7 complete trials are feasible." in page


def test_static_figures_for_several_objectives(tmp_path):
    h = multi_history()
    written = plots.write_figures(h, None, tmp_path)
    assert list(written)[4:6] == [plots.FRONT_FILE, plots.HYPERVOLUME_FILE]
    for name in (plots.FRONT_FILE, plots.HYPERVOLUME_FILE):
        assert Path(tmp_path, name).read_bytes()[:8] == PNG
    ax = plots.front_figure(h).axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [fr.INFEASIBLE, fr.FEASIBLE, fr.FRONT]
    assert plots.front_figure(multi_history(3)).axes[0].get_xticklabels()[2].get_text() == "f3 (minimize)"


def test_the_terminal_summary_lists_the_front_and_the_split():
    text = summary_text(multi_history(), None, None)
    assert "Pareto front: 3 trials (trial-000, trial-001, trial-004); hypervolume 0.6 against (f1=1, f2=0)" in text
    assert "Feasible: 5, infeasible: 2 under size<=60" in text and "Best (by f1): trial-000, f1 0.2, f2 0.5" in text


def test_one_objective_adds_nothing(tmp_path):
    h = single_history(["complete", "failed", "complete", "complete"])
    note = importance_note(h, None)
    figs = interactive_figures(h, None, {}, note)
    assert "front" not in figs and "hypervolume" not in figs
    page = render_html(h, None, None, figs, "sqlite:////tmp/x.db", note, "")
    nav = re.search(r"<nav>(.*)</nav>", page).group(1)
    assert re.findall(r'href="#(\w+)"', nav) == [a for a, _, _ in SECTIONS] + ["trials"]
    assert "plotly_click" not in page and "Pareto" not in page and "feasib" not in page
    assert plots.FRONT_FILE not in plots.write_figures(h, None, tmp_path)
    assert "Pareto" not in summary_text(h, None, None)
    with pytest.raises(ValueError, match="one objective"):
        fr.front_figure(SweepHistory("p", "0", "random", "minimize", None, SPACE, [],
                                     goals=objective.Objectives(("f1",), ("minimize",))))
