"""A multi-objective sweep's Pareto front and hypervolume history, as interactive (plotly) figures.

Drawn only for sweeps with several objectives (``SweepHistory.multi``). Two objectives: every complete trial as a
point (feasible ones filled, infeasible ones hollow and grey), the front's trials highlighted and joined as the
step the front encloses, in each objective's direction; three or more: parallel coordinates over the objectives,
the front's trials on top in their own colour. Each point carries its run's path (``table.run_path``) as
``customdata``: the page opens the run on a click (``table.OPEN_RUN_JS``).
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from pipeline.results.insights.figures import HEIGHT, _annotate, _figure, note_figure
from pipeline.results.insights.history import SweepHistory, TrialRow
from pipeline.results.insights.table import run_path
from pipeline.tracking.names import HYPERVOLUME, TrialState, trial_run_name

FRONT, FEASIBLE, INFEASIBLE = "Pareto front", "feasible, dominated", "infeasible"
STYLE = {FRONT: {"color": "#ff7f0e", "symbol": "circle", "size": 11, "line": {"color": "#7a3b00", "width": 1}},
         FEASIBLE: {"color": "#1f77b4", "symbol": "circle", "size": 8},
         INFEASIBLE: {"color": "#9a9a9a", "symbol": "circle-open", "size": 8, "line": {"width": 1.5}}}
SELECTED = {"color": "#d62728", "symbol": "star", "size": 16, "line": {"color": "#222", "width": 1}}
# parallel coordinates: one colour per group, on a scale from 0 (infeasible) to 2 (front)
GROUP_CODE = {INFEASIBLE: 0, FEASIBLE: 1, FRONT: 2}


def front_figure(history: SweepHistory) -> go.Figure:
    """The front of a sweep with several objectives: a scatter for two, parallel coordinates for more."""
    if not history.multi:
        raise ValueError(f"{history.goals=} has one objective; the front is drawn for several")
    if not judged(history):
        return note_figure("Pareto front", "no complete trial with every objective yet")
    return scatter_figure(history) if len(history.goals.labels) == 2 else parallel_front_figure(history)


def judged(history: SweepHistory) -> list[TrialRow]:
    """The complete trials with a value for every objective, in trial order: those the front is drawn from."""
    return [r for r in history.trials if r.state == TrialState.COMPLETE and r.values is not None]


def groups(history: SweepHistory) -> dict[str, list[TrialRow]]:
    """``judged`` trials by where they stand: on the front, feasible but dominated, infeasible."""
    on = {r.number for r in history.front()}
    rows = judged(history)
    return {FRONT: [r for r in rows if r.number in on],
            FEASIBLE: [r for r in rows if r.feasible and r.number not in on],
            INFEASIBLE: [r for r in rows if not r.feasible]}


def scatter_figure(history: SweepHistory) -> go.Figure:
    """Two objectives: a point per trial; the front joined as the boundary of what it dominates."""
    (x, y), found = axis_titles(history), groups(history)
    fig = _figure(f"Pareto front: {len(found[FRONT])} of {len(judged(history))} complete trials "
                  f"({_split_text(found)})", x, y)
    for name in (INFEASIBLE, FEASIBLE):
        if found[name]:
            _points(fig, history, found[name], name, STYLE[name])
    front = sorted(found[FRONT], key=lambda r: (history.goals.signs()[0] * r.values[0], r.number))
    if front:
        # sorted by the first objective from best to worst, the second runs from worst to best: going across,
        # then up or down ("hv") traces the corners of the region the front dominates, whatever the directions
        _points(fig, history, front, FRONT, STYLE[FRONT], line={"shape": "hv", "color": STYLE[FRONT]["color"]})
    best = history.best
    if best is not None and best.values is not None:
        _points(fig, history, [best], f"selected: {trial_run_name(best.number)} ({history.selection})", SELECTED)
    fig.update_layout(legend={"itemclick": "toggle"})
    return fig


def parallel_front_figure(history: SweepHistory) -> go.Figure:
    """Three or more objectives: an axis per objective (and the trial's number), a line per trial, the front's
    lines on top in their own colour."""
    found = groups(history)
    rows = [r for name in (INFEASIBLE, FEASIBLE, FRONT) for r in found[name]]  # drawn in order: the front on top
    codes = [GROUP_CODE[name] for name in (INFEASIBLE, FEASIBLE, FRONT) for _ in found[name]]
    dims = [{"label": "trial", "values": [r.number for r in rows], "tickformat": "d"}]
    dims += [{"label": t, "values": [r.values[i] for r in rows]} for i, t in enumerate(axis_titles(history))]
    scale = [[0, STYLE[INFEASIBLE]["color"]], [1 / 3, STYLE[INFEASIBLE]["color"]],
             [1 / 3, STYLE[FEASIBLE]["color"]], [2 / 3, STYLE[FEASIBLE]["color"]],
             [2 / 3, STYLE[FRONT]["color"]], [1, STYLE[FRONT]["color"]]]
    line = {"color": codes, "colorscale": scale, "cmin": -0.5, "cmax": 2.5, "showscale": True,
            "colorbar": {"tickvals": [0, 1, 2], "ticktext": [INFEASIBLE, FEASIBLE, FRONT], "len": 0.6}}
    fig = go.Figure(go.Parcoords(dimensions=dims, line=line))
    fig.update_layout(title=f"Pareto front: {len(found[FRONT])} of {len(rows)} complete trials "
                            f"({_split_text(found)}); drag along an axis to select a range", height=HEIGHT,
                      margin={"l": 70, "r": 40, "t": 110, "b": 30})
    return fig


def hypervolume_figure(history: SweepHistory) -> go.Figure:
    """The parent's ``hypervolume`` metric after each trial, against the reference point the sweep recorded."""
    ref = reference_text(history)
    if not history.hypervolume:
        return note_figure("Hypervolume history", "recorded on the parent run when the sweep ends")
    steps, values = zip(*history.hypervolume)
    fig = _figure(f"Hypervolume of the feasible front after each trial (final {values[-1]:.6g})<br>"
                  f"<sub>against the reference point {html.escape(ref, quote=False)}</sub>", "trial", HYPERVOLUME)
    fig.add_scatter(x=list(steps), y=list(values), mode="lines+markers", line={"shape": "hv", "color": "#2ca02c"},
                    name=HYPERVOLUME, text=[trial_run_name(s) for s in steps],
                    hovertemplate="after %{text}: %{y:.6g}<extra></extra>")
    fig.update_xaxes(tickformat="d")
    if not np.any(np.asarray(values) > 0):
        _annotate(fig, "no feasible trial dominates the reference point yet")
    return fig


def reference_text(history: SweepHistory) -> str:
    """``(f1=1.08, f2=5.55)``: the reference point by objective, or ``not recorded``."""
    if history.reference_point is None:
        return "not recorded"
    return "(" + ", ".join(f"{n}={v:.4g}" for n, v in zip(history.goals.labels, history.reference_point)) + ")"


def axis_titles(history: SweepHistory) -> list[str]:
    return [f"{n} ({d})" for n, d in zip(history.goals.labels, history.goals.directions)]


def hover(history: SweepHistory, r: TrialRow, standing: str) -> str:
    """The trial's name and standing, its objectives, the values its constraints name, its parameters (names and
    values escaped: plotly reads a few HTML tags in hover text)."""
    lines = [f"{n}={v:.6g}" for n, v in zip(history.goals.labels, r.values or ())]
    lines += [f"{n}={v:.6g}" for n, v in r.named.items() if n not in history.goals.labels]
    lines += [f"broke {b}" for b in history.broken(r)]
    lines += [f"{k}={v}" for k, v in r.params.items()]
    head = f"<b>{trial_run_name(r.number)}</b> ({standing})"
    return "<br>".join([head, *(html.escape(line, quote=False) for line in lines)])


def _points(fig: go.Figure, history: SweepHistory, rows: Sequence[TrialRow], name: str, marker: dict,
            line: dict | None = None) -> None:
    standing = {FRONT: "on the front", FEASIBLE: "feasible, dominated", INFEASIBLE: "infeasible"}.get(name,
                                                                                                     "selected")
    fig.add_scatter(x=[r.values[0] for r in rows], y=[r.values[1] for r in rows], name=name,
                    mode="lines+markers" if line else "markers", line=line, marker=marker,
                    text=[hover(history, r, standing) for r in rows],
                    customdata=[run_path(history.experiment_id, r.run_id) if r.run_id else "" for r in rows],
                    hovertemplate="%{text}<extra></extra>")


def _split_text(found: dict[str, list[TrialRow]]) -> str:
    feasible = len(found[FRONT]) + len(found[FEASIBLE])
    return f"{feasible} feasible, {len(found[INFEASIBLE])} infeasible"
