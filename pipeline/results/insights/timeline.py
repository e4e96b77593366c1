"""When each trial ran: one bar per trial from its child run's start to its end, one row per worker.

A trial's worker is the process that ran it (its ``run_record.LEASE_TAG``, ``host:pid:start``).
Trials without one (older runs, apps that record their own runs) are packed into the fewest lanes
in which none overlap (greedy by start time, which is optimal for intervals): as many lanes as the
largest number of such trials running at once.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Sequence
from datetime import datetime, timezone

import plotly.graph_objects as go

from pipeline.results.insights.figures import COLORS, HEIGHT, note_figure
from pipeline.results.insights.history import SweepHistory, TrialRow
from pipeline.tracking.names import TrialState


def lanes(intervals: Sequence[tuple[float, float]]) -> list[int]:
    """The lane of each ``(start, end)`` interval: overlapping intervals never share one; fewest lanes.

    An interval ending exactly when another starts frees its lane for it.
    """
    order = sorted(range(len(intervals)), key=lambda i: (intervals[i][0], intervals[i][1], i))
    free: list[int] = []                  # lanes released, smallest first
    busy: list[tuple[float, int]] = []    # (end, lane) of intervals still running
    out = [0] * len(intervals)
    for i in order:
        start, end = intervals[i]
        while busy and busy[0][0] <= start:
            heapq.heappush(free, heapq.heappop(busy)[1])
        lane = heapq.heappop(free) if free else len(busy)
        out[i] = lane
        heapq.heappush(busy, (max(start, end), lane))
    return out


def timeline_figure(history: SweepHistory, now_ms: float | None = None) -> go.Figure:
    """Gantt chart of the trials, coloured by state; a running trial's bar ends at ``now_ms`` (default: now)."""
    now_ms = time.time() * 1000 if now_ms is None else now_ms
    rows = [r for r in history.trials if r.start_ms is not None]
    if not rows:
        return note_figure("Timeline of trials per worker", "no trial has started yet")
    spans = [(float(r.start_ms), float(_end(r, now_ms))) for r in rows]
    lane = workers(rows, spans)
    fig = go.Figure()
    for state, color in COLORS.items():
        picked = [i for i, r in enumerate(rows) if r.state == state]
        if picked:
            fig.add_bar(base=[_iso(spans[i][0]) for i in picked], x=[spans[i][1] - spans[i][0] for i in picked],
                        y=[lane[i] for i in picked], orientation="h", name=state, marker_color=color,
                        text=[f"trial {rows[i].number}" for i in picked], textposition="inside",
                        customdata=[[(spans[i][1] - spans[i][0]) / 1000] for i in picked],
                        hovertemplate="%{text}: %{customdata[0]:.1f} s<extra></extra>")
    n_lanes = len(set(lane))
    how = "by the process that ran each trial" if all(r.worker for r in rows) else "packed by run times"
    fig.update_layout(title=f"Timeline of trials: {n_lanes} worker{'s' * (n_lanes != 1)} ({how})",
                      barmode="overlay", template="plotly_white",
                      height=max(HEIGHT // 2, 120 + 28 * n_lanes), xaxis={"type": "date", "title": "time (UTC)"},
                      yaxis={"categoryorder": "category descending"})
    return fig


def workers(rows: Sequence[TrialRow], spans: Sequence[tuple[float, float]]) -> list[str]:
    """Each row's worker label: ``host:pid`` of its recorded worker, else ``lane k`` from ``lanes``."""
    bare = [i for i, r in enumerate(rows) if not r.worker]
    packed = dict(zip(bare, lanes([spans[i] for i in bare])))
    return [r.worker.rsplit(":", 1)[0] if r.worker else f"lane {packed[i]}" for i, r in enumerate(rows)]


def _end(row: TrialRow, now_ms: float) -> float:
    if row.end_ms is not None:
        return row.end_ms
    return now_ms if row.state == TrialState.RUNNING else row.start_ms


def _iso(ms: float) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
