"""Figures of how the hyperparameters acted (plotly), one pure function each, drawn from ``hyper.HyperExplanation``.

As in ``pipeline.results.insights.figures``: numeric parameters on their own scale (log axes for log-scale ones), a
categorical's choices at ``0 .. k-1`` labelled with their values, and with nothing to show a figure that says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from pipeline.explain.ablation import MEASURED
from pipeline.explain.effects import BAND_Z, Dependence
from pipeline.explain.hyper import HyperExplanation
from pipeline.objective import MINIMIZE
from pipeline.results.insights.figures import HEIGHT, note_figure

COLS = 3             # dependence panels per row
PANEL_HEIGHT = 300   # height of a row of panels
LINE, BAND = "#1f77b4", "rgba(31, 119, 180, 0.2)"
OBSERVED = "rgba(90, 90, 90, 0.35)"
SOURCE_COLORS = {MEASURED: "#2ca02c", "predicted": "#ff7f0e"}


def dependence_figure(expl: HyperExplanation) -> go.Figure:
    """Partial dependence of the objective on each parameter (most important first): the mean with its credible band
    (error bars for a categorical's choices), the complete trials as faint points."""
    title = f"Partial dependence of {expl.label}"
    deps = expl.dependences
    if not deps:
        return note_figure(title, _why(expl))
    shares = expl.importance.as_dict() if expl.importance else {}
    cols = min(COLS, len(deps))
    rows = math.ceil(len(deps) / cols)
    fig = make_subplots(rows=rows, cols=cols, shared_yaxes=True, vertical_spacing=0.3 / rows,
                        subplot_titles=[f"{d.name}" + (f" (importance {shares[d.name]:.2f})" if d.name in shares
                                                       else "") for d in deps])
    for i, dep in enumerate(deps):
        row, col = i // cols + 1, i % cols + 1
        _observed(fig, expl, dep, row, col)
        if dep.categorical:
            _categorical_dependence(fig, dep, row, col)
        else:
            _numeric_dependence(fig, dep, row, col)
        fig.update_xaxes(title_text=dep.name + (" (log)" if dep.log else ""), row=row, col=col, **_axis(dep))
        if col == 1:
            fig.update_yaxes(title_text=expl.label, row=row, col=col)
    fig.update_layout(title=f"{title} (GP surrogate, band: mean +- {BAND_Z} sd)", template="plotly_white",
                      height=max(HEIGHT, 80 + PANEL_HEIGHT * rows), showlegend=False)
    return fig


def pair_figure(expl: HyperExplanation) -> go.Figure:
    """The partial dependence on each top pair as a heatmap (axes evenly spaced on each parameter's scale, log for a
    log-scale one), its interaction strength ``H^2`` in the title."""
    title = f"Partial dependence of {expl.label} on pairs"
    if not expl.pairs:
        return note_figure(title, _why(expl, "needs two searched parameters"))
    fig = make_subplots(rows=1, cols=len(expl.pairs), horizontal_spacing=0.12,
                        subplot_titles=[f"{p.a} x {p.b}: H<sup>2</sup> = {p.h2:.2f}" for p in expl.pairs])
    for i, pair in enumerate(expl.pairs, start=1):
        fig.add_heatmap(x=list(range(len(pair.values_a))), y=list(range(len(pair.values_b))), z=pair.mean.T,
                        customdata=pair.sd.T, colorscale="Viridis", reversescale=expl.direction == MINIMIZE,
                        showscale=i == len(expl.pairs), colorbar={"title": {"text": expl.label}},
                        text=[[f"{pair.a}={_label(u)}<br>{pair.b}={_label(v)}" for u in pair.values_a]
                              for v in pair.values_b],
                        hovertemplate="%{text}<br>mean %{z:.4g} +- %{customdata:.2g} sd<extra></extra>", row=1, col=i)
        fig.update_xaxes(title_text=pair.a + (" (log scale)" if pair.log_a else ""), row=1, col=i,
                         **_ticks(pair.values_a))
        fig.update_yaxes(title_text=pair.b + (" (log scale)" if pair.log_b else ""), row=1, col=i,
                         **_ticks(pair.values_b))
    fig.update_layout(title=title, template="plotly_white", height=HEIGHT + 40)
    return fig


def interaction_figure(expl: HyperExplanation) -> go.Figure:
    """``H^2`` of each top pair: the share of the pair's joint effect that is not the sum of their separate ones."""
    title = f"Interaction strength (H<sup>2</sup>) on {expl.label}"
    if not expl.pairs:
        return note_figure(title, _why(expl, "needs two searched parameters"))
    pairs = sorted(expl.pairs, key=lambda p: p.h2)
    fig = go.Figure(go.Bar(x=[p.h2 for p in pairs], y=[f"{p.a} x {p.b}" for p in pairs], orientation="h",
                           marker_color=LINE, customdata=[p.interaction for p in pairs],
                           hovertemplate="%{y}: H<sup>2</sup> %{x:.3f}, interaction rms %{customdata:.3g}"
                                         "<extra></extra>"))
    fig.update_layout(title=title, template="plotly_white", height=max(300, 120 + 50 * len(pairs)),
                      xaxis={"title": "H^2 (0: additive, 1: all interaction)", "range": [0, 1]})
    return fig


def ablation_figure(expl: HyperExplanation) -> go.Figure:
    """The objective after each step of the ablation path from the default to the best configuration, each step
    marked measured (a trial ran it) or predicted (the surrogate's mean, with +- BAND_Z sd as error bars)."""
    title = f"Ablation path of {expl.label}: default to best"
    if not expl.ablation:
        return note_figure(title, next((n for n in expl.notes if "ablation" in n or "Not explained" in n),
                                       "no ablation path"))
    steps = expl.ablation
    x = [f"{s.step}. {s.label}" for s in steps]
    fig = go.Figure()
    fig.add_scatter(x=x, y=[s.value for s in steps], mode="lines", line={"shape": "hv", "color": "#999"},
                    showlegend=False, hoverinfo="skip")
    for source, color in SOURCE_COLORS.items():
        idx = [i for i, s in enumerate(steps) if s.source == source]
        if not idx:
            continue
        fig.add_scatter(x=[x[i] for i in idx], y=[steps[i].value for i in idx], mode="markers+text", name=source,
                        marker={"color": color, "size": 10}, textposition="top center",
                        text=[_step_text(steps[i]) for i in idx],
                        error_y={"type": "data", "array": [BAND_Z * (steps[i].sd or 0.0) for i in idx],
                                 "visible": source != MEASURED},
                        hovertemplate="%{x}<br>" + expl.label + " %{y:.4g}<extra>" + source + "</extra>")
    fig.update_layout(title=title, template="plotly_white", height=HEIGHT + 60, yaxis_title=expl.label,
                      xaxis={"title": "step", "tickangle": -30})
    return fig


def importance_per_objective_figure(expls: Sequence[HyperExplanation]) -> go.Figure:
    """fANOVA importance of each parameter for each objective: a group of bars per parameter, a bar per objective,
    the spread across the forest's trees as error bars."""
    title = "Hyperparameter importance per objective"
    ranked = [e for e in expls if e.importance is not None]
    if not ranked:
        return note_figure(title, "; ".join(n for e in expls for n in e.notes[:1]) or "no objective explained")
    names = list(ranked[0].importance.names)
    fig = go.Figure()
    for e in ranked:
        imp = e.importance.as_dict()
        std = dict(zip(e.importance.names, e.importance.std))
        fig.add_bar(x=names, y=[imp[n] for n in names], name=e.label,
                    error_y={"type": "data", "array": [float(std[n]) for n in names]},
                    hovertemplate="%{x}: %{y:.3f}<extra>" + e.label + "</extra>")
    fig.update_layout(title=title, template="plotly_white", barmode="group", height=HEIGHT,
                      yaxis={"title": "importance (share of main-effect variance)", "rangemode": "tozero"})
    return fig


# -- helpers --------------------------------------------------------------------------------------
def _numeric_dependence(fig: go.Figure, dep: Dependence, row: int, col: int) -> None:
    x = [float(v) for v in dep.values]
    fig.add_scatter(x=x + x[::-1], y=list(dep.upper) + list(dep.lower[::-1]), fill="toself", fillcolor=BAND,
                    line={"width": 0}, hoverinfo="skip", row=row, col=col)
    fig.add_scatter(x=x, y=dep.mean, mode="lines", line={"color": LINE}, customdata=dep.sd, row=row, col=col,
                    hovertemplate=f"{dep.name}=%{{x:.4g}}<br>%{{y:.4g}} +- %{{customdata:.2g}} sd<extra></extra>")


def _categorical_dependence(fig: go.Figure, dep: Dependence, row: int, col: int) -> None:
    fig.add_scatter(x=list(range(len(dep.values))), y=dep.mean, mode="markers", marker={"color": LINE, "size": 10},
                    error_y={"type": "data", "array": dep.upper - dep.mean, "arrayminus": dep.mean - dep.lower},
                    text=[str(v) for v in dep.values], customdata=dep.sd, row=row, col=col,
                    hovertemplate=f"{dep.name}=%{{text}}<br>%{{y:.4g}} +- %{{customdata:.2g}} sd<extra></extra>")


def _observed(fig: go.Figure, expl: HyperExplanation, dep: Dependence, row: int, col: int) -> None:
    """The complete trials where the parameter was active, faint."""
    xs, ys = [], []
    for _, params, value in expl.trials:
        if dep.name not in params:
            continue
        if dep.categorical:
            hit = [i for i, c in enumerate(dep.values) if str(c) == str(params[dep.name])]
            if not hit:
                continue
            xs.append(hit[0])
        else:
            xs.append(float(params[dep.name]))
        ys.append(value)
    if xs:
        fig.add_scatter(x=xs, y=ys, mode="markers", marker={"color": OBSERVED, "size": 5}, row=row, col=col,
                        hovertemplate=f"trial: {dep.name}=%{{x}}, %{{y:.4g}}<extra></extra>")


def _axis(dep: Dependence) -> dict[str, Any]:
    if dep.categorical:
        return {"tickvals": list(range(len(dep.values))), "ticktext": [str(v) for v in dep.values],
                "range": [-0.5, len(dep.values) - 0.5]}
    return {"type": "log"} if dep.log else {}


def _ticks(values: Sequence[Any]) -> dict[str, Any]:
    """Grid cells at ``0 .. G-1`` (evenly spaced on the parameter's scale) labelled with their values."""
    return {"tickvals": list(range(len(values))), "ticktext": [_label(v) for v in values]}


def _label(v: Any) -> str:
    return f"{v:.3g}" if isinstance(v, (float, np.floating)) else str(v)


def _step_text(step: Any) -> str:
    where = f"measured (trial {step.trial})" if step.source == MEASURED else "predicted"
    return where if step.step == 0 else f"{where}, gain {step.gain:+.3g}"


def _why(expl: HyperExplanation, fallback: str = "nothing to show") -> str:
    return expl.notes[0] if expl.notes and not expl.dependences else fallback
