"""The sweep's figures as PNG files: history, parallel coordinates, one slice per parameter, importance, curves.

Figures are built with matplotlib's object API on the Agg canvas (no pyplot, so no global backend
switch and no display needed). Every figure is produced for every sweep: when there is nothing to
draw (no complete trial yet, too few for importance) it says so instead of being left out, so that
the report and the artifact list always have the same shape.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from pipeline.results.insights.history import TOP_K, SweepHistory
from pipeline.results.insights.importance import Importance, encode, importance_note
from pipeline.search.space import CategoricalParam, Param
from pipeline.tracking.names import HYPERVOLUME

DPI = 100
SIZE = (7.0, 4.2)
JITTER = 0.12   # horizontal spread of a categorical slice's points, in category widths
FRONT_FILE, HYPERVOLUME_FILE = "pareto_front.png", "hypervolume.png"  # several objectives only
MARKS = {"pruned": ("v", "tab:gray"), "failed": ("x", "tab:red"), "interrupted": ("|", "tab:purple"),
         "running": ("|", "tab:olive")}


def write_figures(history: SweepHistory, importance: Importance | None, folder: str | Path) -> dict[str, Path]:
    """Write every figure into ``folder``; returns ``{file name: path}`` in reading order."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    makers: dict[str, Any] = {"optimization_history.png": lambda: history_figure(history),
                              "parallel_coordinates.png": lambda: parallel_figure(history),
                              "importance.png": lambda: importance_figure(importance, importance_note(history,
                                                                                                      importance)),
                              "learning_curves.png": lambda: curves_figure(history)}
    if history.multi:
        makers[FRONT_FILE] = lambda: front_figure(history)
        makers[HYPERVOLUME_FILE] = lambda: hypervolume_figure(history)
    for p in history.space.params:
        makers[slice_filename(p.name)] = lambda p=p: slice_figure(history, p)
    written = {}
    for name, make in makers.items():
        fig = make()
        fig.savefig(folder / name, dpi=DPI)
        written[name] = folder / name
    return written


def front_figure(history: SweepHistory) -> Figure:
    """Several objectives: every complete trial by its first two objectives (infeasible ones hollow), the front
    joined as a step; with three or more, normalized lines across the objectives, the front's on top."""
    from pipeline.results.insights.front import FEASIBLE, FRONT, INFEASIBLE, axis_titles, groups

    fig, ax = _figure()
    found, titles = groups(history), axis_titles(history)
    if not any(found.values()):
        return _note(fig, ax, "no complete trial with every objective yet")
    ax.set_title(f"Pareto front: {len(found[FRONT])} trials; {len(found[FRONT]) + len(found[FEASIBLE])} feasible, "
                 f"{len(found[INFEASIBLE])} infeasible", fontsize="medium")
    if len(titles) > 2:
        return _front_lines(fig, ax, found, titles)
    bad, ok = found[INFEASIBLE], found[FEASIBLE]
    ax.scatter([r.values[0] for r in bad], [r.values[1] for r in bad], facecolors="none", edgecolors="0.55",
               label=INFEASIBLE)
    ax.scatter([r.values[0] for r in ok], [r.values[1] for r in ok], color="tab:blue", s=22, label=FEASIBLE)
    front = sorted(found[FRONT], key=lambda r: (history.goals.signs()[0] * r.values[0], r.number))
    if front:  # as in the interactive figure: across, then up or down, traces the corners the front dominates
        ax.step([r.values[0] for r in front], [r.values[1] for r in front], where="post", color="tab:orange",
                marker="o", markeredgecolor="0.2", label=FRONT)
    ax.set(xlabel=titles[0], ylabel=titles[1])
    ax.legend(fontsize="small", loc="best")
    return fig


def hypervolume_figure(history: SweepHistory) -> Figure:
    """The parent's hypervolume after each trial, the reference point in the title."""
    from pipeline.results.insights.front import reference_text

    fig, ax = _figure()
    if not history.hypervolume:
        return _note(fig, ax, "hypervolume: recorded on the parent run when the sweep ends")
    steps, values = zip(*history.hypervolume)
    ax.step(steps, values, where="post", color="tab:green", marker="o", ms=3)
    ax.set(xlabel="trial", ylabel=HYPERVOLUME)
    ax.set_title(f"Hypervolume (final {values[-1]:.4g}) against {reference_text(history)}", fontsize="medium")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return fig


def _front_lines(fig: Figure, ax: Any, found: dict[str, list[Any]], titles: list[str]) -> Figure:
    """Three or more objectives: each scaled to [0, 1] over the complete trials, a line per trial."""
    from pipeline.results.insights.front import FEASIBLE, FRONT, INFEASIBLE

    rows = [r for name in (INFEASIBLE, FEASIBLE, FRONT) for r in found[name]]
    Y = np.array([r.values for r in rows], dtype=np.float64)
    low, spread = Y.min(axis=0), np.ptp(Y, axis=0)
    Y = (Y - low) / np.where(spread > 0, spread, 1.0)
    x, start = np.arange(len(titles)), 0
    for name, color, width in ((INFEASIBLE, "0.75", 0.8), (FEASIBLE, "tab:blue", 1.0), (FRONT, "tab:orange", 2.0)):
        n = len(found[name])
        for k, y in enumerate(Y[start:start + n]):
            ax.plot(x, y, color=color, lw=width, label=name if k == 0 else None)
        start += n
    for i in x:
        ax.axvline(i, color="0.4", lw=0.8)
        ax.text(i + 0.03, 0, f"{low[i]:.4g}", fontsize="x-small", va="center")
        ax.text(i + 0.03, 1, f"{low[i] + spread[i]:.4g}", fontsize="x-small", va="center")
    ax.set_xticks(x, titles, fontsize="small")
    ax.set(xlim=(-0.2, len(titles) - 0.5), ylim=(-0.05, 1.05), yticks=[])
    ax.legend(fontsize="small", loc="best")
    return fig


def slice_filename(name: str) -> str:
    return "slice_" + re.sub(r"[^A-Za-z0-9_.-]", "_", name) + ".png"


def history_figure(history: SweepHistory) -> Figure:
    """Each trial's objective by trial number, the best so far, pruned/failed/interrupted trials marked."""
    fig, ax = _figure()
    done = sorted(history.ranked(), key=lambda r: r.number)
    if not history.trials:
        return _note(fig, ax, "no trial has been recorded yet")
    if done:
        ax.scatter([r.number for r in done], [r.value for r in done], s=22, color="tab:blue", label="complete")
        steps = history.best_so_far()
        last = max(r.number for r in history.trials)
        ax.step([n for n, _ in steps] + [last], [v for _, v in steps] + [steps[-1][1]], where="post",
                color="tab:orange", label="best so far")
        best = history.best
        ax.scatter([best.number], [best.value], marker="*", s=160, color="tab:orange", zorder=3,
                   label=f"best: trial {best.number}")
    _mark_states(ax, history)
    ax.set(xlabel="trial", ylabel=f"{history.label} ({history.direction})")
    ax.set_title(f"Optimization history: {_counts_text(history)}", fontsize="medium")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize="small", loc="best")
    return fig


def parallel_figure(history: SweepHistory) -> Figure:
    """Complete trials as lines across one axis per parameter (search-space scale) and the objective."""
    fig, ax = _figure(width=max(SIZE[0], 1.6 * (history.space.dim + 1)), left=0.04, bottom=0.16)
    rows, params = history.ranked(), history.space.params
    if not rows or not params:
        return _note(fig, ax, "no complete trial" if not rows else "no searched parameter")
    values = np.array([r.value for r in rows])
    spread = np.ptp(values)
    objective = (values - values.min()) / spread if spread > 0 else np.full(len(rows), 0.5)
    Y = np.column_stack([encode(history.space, [r.params for r in rows]), objective])
    if history.space.conditions:  # a line breaks where its trial's parameter is inactive
        Y[:, :-1][np.array([[p.name not in r.params for p in params] for r in rows])] = np.nan
    goodness = objective if history.sign < 0 else 1.0 - objective  # 1 = best
    x = np.arange(Y.shape[1])
    lines = LineCollection([np.column_stack([x, y]) for y in Y[::-1]], cmap="viridis", linewidths=1.4,
                           alpha=0.8)
    lines.set_array(goodness[::-1])  # best drawn last, on top
    ax.add_collection(lines)
    for i, p in enumerate(params):
        _axis_labels(ax, i, p)
    ax.text(len(params) + 0.04, 0, f"{values.min():.4g}", fontsize="x-small", va="center")
    ax.text(len(params) + 0.04, 1, f"{values.max():.4g}", fontsize="x-small", va="center")
    for xi in x:
        ax.axvline(xi, color="0.4", lw=0.8)
    ax.set_xticks(x, [p.name for p in params] + [history.label], rotation=15, fontsize="small")
    ax.set(xlim=(-0.3, len(params) + 0.5), ylim=(-0.05, 1.05), yticks=[],
           title=f"Parallel coordinates of {len(rows)} complete trials")
    bar = fig.colorbar(lines, ax=ax, ticks=[0, 1])
    bar.ax.set_yticklabels(["worst", "best"])
    return fig


def slice_figure(history: SweepHistory, param: Param) -> Figure:
    """Objective against one parameter: log axis for log-scale ones, one column per choice for categoricals."""
    fig, ax = _figure()
    rows = history.ranked()
    if not rows:
        return _note(fig, ax, f"{param.name}: no complete trial")
    xs = [_slice_x(param, r.params.get(param.name), r.number) for r in rows]
    kept = [(x, r) for x, r in zip(xs, rows) if x is not None]
    points = ax.scatter([x for x, _ in kept], [r.value for _, r in kept], c=[r.number for _, r in kept],
                        cmap="viridis", edgecolors="0.3", s=30)
    fig.colorbar(points, ax=ax, label="trial", ticks=MaxNLocator(integer=True))
    if kept and kept[0][1] is rows[0]:
        ax.scatter([kept[0][0]], [rows[0].value], marker="*", s=200, color="tab:orange", zorder=3, label="best")
        ax.legend(fontsize="small")
    if isinstance(param, CategoricalParam):
        ax.set_xticks(range(param.n_values), [str(c) for c in param.choices])
        ax.set_xlim(-0.5, param.n_values - 0.5)
    elif getattr(param, "log", False):
        ax.set_xscale("log")
        ax.minorticks_off()  # costly to lay out, and the major decades suffice
    ax.set(xlabel=param.name + (" (log scale)" if getattr(param, "log", False) else ""),
           ylabel=history.label, title=f"Slice: {param.name}")
    return fig


def importance_figure(importance: Importance | None, note: str = "too few complete trials to estimate importance"
                      ) -> Figure:
    """Horizontal bars, most important on top, with the spread across the forest's trees; ``note`` when None."""
    longest = max((len(n) for n in importance.names), default=0) if importance else 0
    fig, ax = _figure(left=min(0.5, 0.03 + 0.0125 * longest), bottom=0.16)
    if importance is None:
        return _note(fig, ax, note.replace("; ", ";\n"))
    ranked = importance.ranked()[::-1]
    ax.barh([n for n, _, _ in ranked], [v for _, v, _ in ranked], xerr=[s for _, _, s in ranked],
            color="tab:blue", capsize=3)
    ax.set(xlabel="importance (share of main-effect variance)", title=f"Hyperparameter importance, "
           f"{importance.n_trials} trials", xlim=(0, max(1.05, max(v + s for _, v, s in ranked) + 0.05)))
    fig.text(0.01, 0.01, importance.method, fontsize="x-small", color="0.3")
    return fig


def curves_figure(history: SweepHistory, top_k: int = TOP_K) -> Figure:
    """Cross-validated validation metric per epoch (mean over folds) of the best trials."""
    fig, ax = _figure()
    rows = [r for r in history.ranked()[:top_k] if r.curve]
    if not rows:
        return _note(fig, ax, "no learning curve recorded for a complete trial")
    for rank, r in enumerate(rows):
        ax.plot([s for s, _ in r.curve], [v for _, v in r.curve], marker="o", ms=3, lw=2.2 if rank == 0 else 1.2,
                label=f"trial {r.number}: {r.value:.4g}")
    ax.set(xlabel="epoch", ylabel=f"{history.label} per epoch (mean over folds)",
           title=f"Learning curves of the top {len(rows)} trials")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize="small")
    return fig


# -- helpers --------------------------------------------------------------------------------------
def _figure(width: float = SIZE[0], left: float = 0.11, bottom: float = 0.12) -> tuple[Figure, Any]:
    """A figure with fixed margins: a layout engine would triple the time ``savefig`` takes."""
    fig = Figure(figsize=(width, SIZE[1]))
    FigureCanvasAgg(fig)
    fig.subplots_adjust(left=left, right=0.97, bottom=bottom, top=0.91)
    return fig, fig.add_subplot()


def _note(fig: Figure, ax: Any, text: str) -> Figure:
    ax.set_axis_off()
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.35")
    return fig


def _mark_states(ax: Any, history: SweepHistory) -> None:
    """Trials that did not complete: at their value if they have one (pruned), else on the bottom edge."""
    for state, (marker, color) in MARKS.items():
        rows = [r for r in history.trials if r.state == state]
        valued, label = [r for r in rows if r.value is not None], state
        if valued:
            ax.scatter([r.number for r in valued], [r.value for r in valued], marker=marker, color=color, label=label)
            label = None
        bare = [r.number for r in rows if r.value is None]
        if bare:
            ax.scatter(bare, [0.03] * len(bare), marker=marker, s=60, color=color, label=label,
                       transform=ax.get_xaxis_transform(), clip_on=False)


def _axis_labels(ax: Any, i: int, p: Param) -> None:
    """Tick labels of parameter axis ``i`` at the encoded positions of its ends or choices."""
    if isinstance(p, CategoricalParam):
        marks = [(p.to_unit(c), str(c)) for c in p.choices]
    else:
        marks = [(p.to_unit(p.low), f"{p.low:.3g}"), (p.to_unit(p.high), f"{p.high:.3g}")]
    for y, label in marks:
        ax.text(i + 0.04, y, label, fontsize="x-small", va="center")


def _slice_x(param: Param, value: Any, number: int) -> float | None:
    """Where a trial sits on the slice's x axis: its value, or its choice's column with a fixed jitter."""
    try:
        value = param.check(value)
    except (ValueError, TypeError):
        return None
    if isinstance(param, CategoricalParam):
        offset = np.random.default_rng(number).uniform(-JITTER, JITTER)
        return param.index(value) + float(offset)
    return float(value)


def _counts_text(history: SweepHistory) -> str:
    return ", ".join(f"{n} {s}" for s, n in history.counts().items() if n)
