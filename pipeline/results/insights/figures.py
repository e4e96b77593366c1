"""The sweep's interactive figures (plotly), one pure function each, as Optuna's visualizations draw them.

Every function returns a ``plotly.graph_objects.Figure`` and is drawn for every sweep: with nothing
to show (no complete trial yet, one parameter only) the figure says so instead of being left out.
Numeric parameters are drawn on their own scale (log axes for log-scale ones), a categorical's
choices at the positions ``0 .. k-1`` labelled with their values.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from pipeline.results.insights.history import SweepHistory, TrialRow
from pipeline.results.insights.importance import Importance
from pipeline.search.space import CategoricalParam, Param

HEIGHT = 440
GRID = 60            # contour: interpolation grid points per axis
MAX_LINES = 60       # intermediate values: one line (and legend entry) per trial up to this many trials
CLIP = 0.1           # parallel coordinates: the worst tenth of trials share the colour scale's end
PAD = 0.04           # numeric axes of parallel coordinates: padding beyond the searched range (share of it)
COLORS = {"complete": "#1f77b4", "pruned": "#7f7f7f", "failed": "#d62728", "interrupted": "#9467bd",
          "running": "#bcbd22"}
SYMBOLS = {"complete": "circle", "pruned": "triangle-down", "failed": "x", "interrupted": "line-ns",
           "running": "line-ns"}
Curve = Sequence[tuple[int, float]]


def history_figure(history: SweepHistory) -> go.Figure:
    """Each trial's objective by trial number, the best so far, pruned trials at their last value."""
    fig = _figure(f"Optimization history ({history.direction})", "trial", history.label)
    for state in ("complete", "pruned"):
        rows = [r for r in history.trials if r.state == state and r.value is not None]
        if rows:
            fig.add_scatter(x=[r.number for r in rows], y=[r.value for r in rows], mode="markers", name=state,
                            marker={"color": COLORS[state], "symbol": SYMBOLS[state]},
                            text=[_hover(r) for r in rows], hovertemplate="%{text}<extra></extra>")
    steps = history.best_so_far()
    if steps:
        last = max(r.number for r in history.trials)
        fig.add_scatter(x=[n for n, _ in steps] + [last], y=[v for _, v in steps] + [steps[-1][1]],
                        mode="lines", line={"shape": "hv", "color": "#ff7f0e"}, name="best so far")
    if not history.ranked():
        _annotate(fig, "no complete trial yet")
    return fig


def parallel_figure(history: SweepHistory) -> go.Figure:
    """Complete trials across one axis per parameter and the objective; drag along an axis to brush."""
    rows = history.ranked()
    if not rows or not history.space.params:
        return note_figure("Parallel coordinates", "no complete trial yet" if not rows else "no searched parameter")
    dims = [_dimension(p, [r.params.get(p.name) for r in rows], p.name in history.space.conditions)
            for p in history.space.params]
    values = [r.value for r in rows]
    dims.append({"label": history.label, "values": values})
    low, high, clipped = colour_range(values, history.sign)
    line = {"color": values, "colorscale": "Viridis", "reversescale": history.sign > 0, "showscale": True,
            "cmin": low, "cmax": high, "colorbar": {"title": {"text": "objective" + (
                f"<br>(worst {CLIP:.0%}<br>clipped)" if clipped else "")}}}
    fig = go.Figure(go.Parcoords(dimensions=dims, line=line))
    fig.update_layout(title=f"Parallel coordinates of {len(rows)} complete trials (drag along an axis to "
                            "select a range)", height=HEIGHT, margin={"l": 70, "r": 40, "t": 110, "b": 30})
    return fig


def colour_range(values: Sequence[float], sign: float, clip: float | None = None) -> tuple[float, float, bool]:
    """The colour scale's range: from the best value to the ``1 - clip`` quantile toward the worst, so that one
    outlier (a diverged trial) does not paint every good trial alike; the worse ones get the end colour.
    Returns ``(low, high, clipped)``."""
    clip = CLIP if clip is None else clip
    v = np.asarray(values, dtype=np.float64)
    if len(v) < 1 / clip:  # too few trials for a quantile to mean anything
        return float(v.min()), float(v.max()), False
    if sign > 0:  # minimize: the best is the lowest
        low, high = float(v.min()), float(np.quantile(v, 1 - clip))
    else:
        low, high = float(np.quantile(v, clip)), float(v.max())
    return low, high, bool(v.min() < low or v.max() > high)


def slice_figure(history: SweepHistory) -> go.Figure:
    """The objective against each parameter, one panel per parameter, coloured by trial number."""
    params, rows = history.space.params, history.ranked()
    if not rows or not params:
        return note_figure("Slice plots", "no complete trial yet" if not rows else "no searched parameter")
    fig = make_subplots(rows=1, cols=len(params), shared_yaxes=True, horizontal_spacing=0.03 / max(1, len(params)))
    for i, p in enumerate(params, start=1):
        kept = [(x, r) for r in rows if (x := _coordinate(p, r.params.get(p.name))) is not None]
        fig.add_scatter(x=[x for x, _ in kept], y=[r.value for _, r in kept], mode="markers", row=1, col=i,
                        showlegend=False, text=[_hover(r) for _, r in kept], hovertemplate="%{text}<extra></extra>",
                        marker={"color": [r.number for _, r in kept], "colorscale": "Viridis", "size": 7,
                                "line": {"width": 0.5, "color": "#333"}, "showscale": i == len(params),
                                "colorbar": {"title": {"text": "trial"}}})
        fig.update_xaxes(title_text=p.name, row=1, col=i, **_axis(p))
    fig.update_yaxes(title_text=history.label, row=1, col=1)
    fig.update_layout(title="Slice plots", height=HEIGHT, template="plotly_white")
    return fig


def contour_figure(history: SweepHistory, importance: Importance | None) -> go.Figure:
    """The objective over the two most important parameters (the first two without an importance),
    interpolated linearly between the complete trials, from the nearest trial outside their convex hull (so
    that every trial lies on the filled area)."""
    rows, names = history.ranked(), _top_two(history, importance)
    if len(names) < 2 or len(rows) < 3:
        return note_figure("Contour", "needs two searched parameters" if len(names) < 2 else "needs 3 complete trials")
    px, py = history.space[names[0]], history.space[names[1]]
    pts = [(x, y, r) for r in rows if (x := _coordinate(px, r.params.get(px.name))) is not None
           and (y := _coordinate(py, r.params.get(py.name))) is not None]
    gx, gy, z = _interpolate(px, py, pts)
    basis = "by importance" if importance is not None else "the first two (importance not ranked)"
    fig = _figure(f"Contour of the two most important parameters ({basis})", px.name, py.name)
    fig.add_contour(x=gx, y=gy, z=z, colorscale="Viridis", reversescale=history.sign > 0,
                    colorbar={"title": {"text": "objective"}}, connectgaps=False, hoverinfo="z")
    fig.add_scatter(x=[x for x, _, _ in pts], y=[y for _, y, _ in pts], mode="markers", showlegend=False,
                    marker={"color": "white", "line": {"color": "black", "width": 1}, "size": 6},
                    text=[_hover(r) for _, _, r in pts], hovertemplate="%{text}<extra></extra>")
    fig.update_xaxes(**_axis(px))
    fig.update_yaxes(**_axis(py))
    return fig


def intermediate_figure(history: SweepHistory, curves: Mapping[int, Curve]) -> go.Figure:
    """Every trial's per-step curve (``history.step_key``), pruned ones included: up to ``MAX_LINES`` trials one
    line each, coloured by the trial's objective (as parallel coordinates are), in the legend by state; more
    trials as one line per state."""
    x_title = "step (fold x epochs + epoch)" if (history.step_key or "").startswith("intermediate") else "epoch"
    fig = _figure(f"Intermediate values: {history.step_key or 'none recorded'}", x_title, history.step_key or "")
    by_number = {r.number: r for r in history.trials}
    drawn = [(n, c) for n, c in sorted(curves.items()) if c and n in by_number]
    if not drawn:
        _annotate(fig, "no per-step values recorded")
    elif len(drawn) <= MAX_LINES:
        _trial_lines(fig, history, [(by_number[n], c) for n, c in drawn])
    else:
        _state_lines(fig, drawn, by_number)
    return fig


def _trial_lines(fig: go.Figure, history: SweepHistory, lines: Sequence[tuple[TrialRow, Curve]]) -> None:
    from plotly.colors import sample_colorscale

    scored = [r.value for r, _ in lines if r.value is not None and np.isfinite(r.value)]
    low, high, _ = colour_range(scored, history.sign) if scored else (0.0, 1.0, False)
    for r, curve in lines:
        if r.value is None or not np.isfinite(r.value):
            color = COLORS.get(r.state, "#999")
        else:
            at = 0.5 if high <= low else float(np.clip((r.value - low) / (high - low), 0, 1))
            color = sample_colorscale("Viridis", [1 - at if history.sign > 0 else at])[0]
        value = "" if r.value is None else f" {r.value:.4g}"
        fig.add_scatter(x=[s for s, _ in curve], y=[v for _, v in curve], mode="lines",
                        name=f"trial {r.number}{value}", legendgroup=r.state, legendgrouptitle_text=r.state,
                        line={"color": color, "width": 1.5, "dash": "dot" if r.state == "pruned" else "solid"},
                        hovertemplate=f"trial {r.number} ({r.state}): %{{y:.4g}} at %{{x}}<extra></extra>")
    fig.update_layout(legend={"groupclick": "toggleitem"})


def _state_lines(fig: go.Figure, drawn: Sequence[tuple[int, Curve]], by_number: Mapping[int, TrialRow]) -> None:
    for state in COLORS:
        lines = [(n, c) for n, c in drawn if by_number[n].state == state]
        if not lines:
            continue
        xs, ys, text = _broken_lines(lines)
        fig.add_scattergl(x=xs, y=ys, text=text, mode="lines", name=f"{state} ({len(lines)})",
                          line={"color": COLORS[state], "width": 1}, opacity=0.6,
                          hovertemplate="%{text}: %{y:.4g} at %{x}<extra></extra>")


def ecdf_figure(history: SweepHistory) -> go.Figure:
    """Empirical distribution of the complete trials' objective: the share of trials at or below each value."""
    values = np.sort([r.value for r in history.ranked()])
    fig = _figure("Empirical distribution of the objective", history.label, "share of complete trials <= x")
    if len(values):
        fig.add_scatter(x=values, y=np.arange(1, len(values) + 1) / len(values), mode="lines",
                        line={"shape": "hv"}, name="complete", hovertemplate="%{y:.0%} <= %{x:.4g}<extra></extra>")
        fig.update_yaxes(range=[0, 1.02], tickformat=".0%")
    else:
        _annotate(fig, "no complete trial yet")
    return fig


def importance_figure(importance: Importance | None, note: str) -> go.Figure:
    """Bars with the spread across the forest's trees as error bars; uncertain ones drawn pale."""
    if importance is None:
        return note_figure("Hyperparameter importance", note)
    ranked = importance.ranked()[::-1]
    colors = ["#c6dbef" if s > v else "#1f77b4" for _, v, s in ranked]
    fig = _figure(f"Hyperparameter importance ({importance.n_trials} complete trials)",
                  "importance (share of main-effect variance), +- spread across trees", "")
    # an importance is a share of variance: the spread's bar stops at zero, and so does the axis
    fig.add_bar(x=[v for _, v, _ in ranked], y=[n for n, _, _ in ranked], orientation="h", marker_color=colors,
                error_x={"type": "data", "array": [s for _, _, s in ranked],
                         "arrayminus": [min(s, max(v, 0.0)) for _, v, s in ranked], "symmetric": False},
                showlegend=False, hovertemplate="%{y}: %{x:.3f} +- %{error_x.array:.3f}<extra></extra>")
    top = max([v + s for _, v, s in ranked] + [1e-9])
    fig.update_xaxes(range=[0, top * 1.05])
    fig.update_layout(height=max(300, 60 + 36 * len(ranked)))
    fig.add_annotation(text=note, showarrow=False, xref="paper", yref="paper", x=0, y=-0.25, xanchor="left",
                       font={"size": 11, "color": "#555"})
    return fig


# -- helpers --------------------------------------------------------------------------------------
def _figure(title: str, x: str, y: str) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(title=title, height=HEIGHT, template="plotly_white", xaxis_title=x, yaxis_title=y,
                      hovermode="closest")
    return fig


def note_figure(title: str, text: str) -> go.Figure:
    fig = _figure(title, "", "")
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    _annotate(fig, text)
    return fig


def _annotate(fig: go.Figure, text: str) -> None:
    fig.add_annotation(text=text, showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5,
                       font={"size": 14, "color": "#666"})


def _hover(r: TrialRow) -> str:
    """Plotly reads a few HTML tags in hover text: names and values are escaped, lines joined by <br>."""
    params = "<br>".join(html.escape(f"{k}={v}", quote=False) for k, v in r.params.items())
    value = "" if r.value is None else f"{r.value:.6g}"
    return f"trial {r.number} ({r.state}) {value}<br>{params}"


def _coordinate(p: Param, value: Any) -> float | None:
    """Where ``value`` sits on ``p``'s axis: itself, or its choice's index; None when outside the space."""
    try:
        value = p.check(value)
    except (ValueError, TypeError):
        return None
    return float(p.index(value)) if isinstance(p, CategoricalParam) else float(value)


def _axis(p: Param) -> dict[str, Any]:
    if isinstance(p, CategoricalParam):
        return {"tickvals": list(range(p.n_values)), "ticktext": [str(c) for c in p.choices],
                "range": [-0.5, p.n_values - 0.5]}
    return {"type": "log"} if getattr(p, "log", False) else {}


def _dimension(p: Param, values: Sequence[Any], conditional: bool = False) -> dict[str, Any]:
    """A parallel-coordinates axis; log-scale parameters as log10 with their values on the ticks. A conditional
    parameter's axis has an ``inactive`` tick below its range, where the trials it does not apply to pass."""
    coords = [_coordinate(p, v) for v in values]
    if isinstance(p, CategoricalParam):
        slot = -1 if conditional else np.nan
        return {"label": p.name, "values": [slot if c is None else c for c in coords],
                "tickvals": ([-1] if conditional else []) + list(range(p.n_values)),
                "ticktext": (["inactive"] if conditional else []) + [str(c) for c in p.choices]}
    # the whole searched range, padded so that a tick at a bound stays clear of the axis' title
    log = getattr(p, "log", False)
    low, high = (np.log10(float(p.low)), np.log10(float(p.high))) if log else (float(p.low), float(p.high))
    pad = PAD * (high - low)
    slot = low - 3 * pad if conditional else np.nan
    if log:
        ticks = [t for t in np.arange(np.floor(low), np.ceil(high) + 1) if low - 1e-9 <= t <= high + 1e-9]
        labels = [f"{10 ** t:.3g}" for t in ticks]
    else:
        ticks, labels = [low, high], [f"{low:.4g}", f"{high:.4g}"]
    axis = {"label": f"{p.name} (log)" if log else p.name,
            "values": [slot if c is None else (np.log10(c) if log else c) for c in coords],
            "range": [slot - pad if conditional else low - pad, high + pad]}
    if log or conditional:
        axis.update(tickvals=([slot] if conditional else []) + list(ticks),
                    ticktext=(["inactive"] if conditional else []) + labels)
    return axis


def _top_two(history: SweepHistory, importance: Importance | None) -> list[str]:
    names = [n for n, _, _ in importance.ranked()] if importance is not None else list(history.space.names)
    return names[:2]


def _scale(p: Param, coords: np.ndarray) -> np.ndarray:
    """Coordinates mapped to [0, 1] (log10 for log-scale parameters) for interpolation."""
    if isinstance(p, CategoricalParam):
        return coords / max(1, p.n_values - 1)
    lo, hi = float(p.low), float(p.high)
    if getattr(p, "log", False):
        coords, lo, hi = np.log10(coords), np.log10(lo), np.log10(hi)
    return (coords - lo) / (hi - lo if hi > lo else 1.0)


def _grid(p: Param) -> np.ndarray:
    if isinstance(p, CategoricalParam):
        return np.arange(p.n_values, dtype=np.float64)
    if getattr(p, "log", False):
        return np.geomspace(float(p.low), float(p.high), GRID)
    return np.linspace(float(p.low), float(p.high), GRID)


def _interpolate(px: Param, py: Param, pts: Sequence[tuple[float, float, TrialRow]]
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Grid ``gx (nx,)``, ``gy (ny,)`` and the objective ``z (ny, nx)`` interpolated from the trials."""
    from scipy.interpolate import griddata

    gx, gy = _grid(px), _grid(py)
    known = np.column_stack([_scale(px, np.array([x for x, _, _ in pts])), _scale(py, np.array([y for _, y,
                                                                                                _ in pts]))])
    values = np.array([r.value for _, _, r in pts])
    mesh = np.stack(np.meshgrid(_scale(px, gx), _scale(py, gy)), axis=-1)
    nearest = griddata(known, values, mesh, method="nearest")
    try:
        z = griddata(known, values, mesh, method="linear")
    except Exception:  # noqa: BLE001 - Qhull: points on a line (e.g. one axis categorical with few values)
        return gx, gy, nearest
    return gx, gy, np.where(np.isnan(z), nearest, z)


def _broken_lines(lines: Sequence[tuple[int, Curve]]) -> tuple[list[Any], list[Any], list[str]]:
    """Many curves as one trace, separated by gaps: one plotly trace per trial would not scale to 1,000."""
    xs: list[Any] = []
    ys: list[Any] = []
    text: list[str] = []
    for number, curve in lines:
        xs += [s for s, _ in curve] + [None]
        ys += [v for _, v in curve] + [None]
        text += [f"trial {number}"] * (len(curve) + 1)
    return xs, ys, text
