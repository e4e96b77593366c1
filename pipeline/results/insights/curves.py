"""Every trial's per-step curve (``SweepHistory.step_key``), fetched in parallel and cached once ended.

MLflow's client has no call returning many runs' metric histories at once, so each trial costs one
``get_metric_history`` round trip (about 5 ms on SQLite, 50-80 ms to a server). They are sent from a
thread pool, and the curves of trials that have ended are kept in a ``CurveCache``: a report rebuilt
after every batch of a running sweep fetches only the trials that are new or still running.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pipeline.results.insights.history import SweepHistory, TrialRow
from pipeline.tracking import names
from pipeline.tracking.names import TrialState

WORKERS = 8          # concurrent round trips: a server answers them in parallel, SQLite mostly in turn
Curve = list[tuple[int, float]]  # (step, value), by step


class CurveCache:
    """Curves of ended trials by ``(tracking URI, run id, metric)``; a running trial's curve is never kept."""

    def __init__(self) -> None:
        self._curves: dict[tuple[str, str, str], Curve] = {}

    def get(self, uri: str, run_id: str, key: str) -> Curve | None:
        return self._curves.get((uri, run_id, key))

    def put(self, uri: str, row: TrialRow, key: str, curve: Curve) -> None:
        if row.state in (*names.ENDED, TrialState.INTERRUPTED):
            self._curves[(uri, row.run_id, key)] = curve

    def __len__(self) -> int:
        return len(self._curves)


def fetch_curves(client: Any, uri: str, history: SweepHistory, cache: CurveCache | None = None,
                 workers: int = WORKERS) -> dict[int, Curve]:
    """``{trial number: curve}`` of every trial that logged ``history.step_key`` (none when it is None)."""
    key = history.step_key
    if key is None:
        return {}
    rows = [r for r in history.trials if r.has_steps and r.run_id]
    cached = {r.number: cache.get(uri, r.run_id, key) for r in rows} if cache else {}
    missing = [r for r in rows if cached.get(r.number) is None]
    fetched = dict(zip((r.number for r in missing), _fetch(client, (r.run_id for r in missing), key, workers)))
    if cache is not None:
        for r in missing:
            cache.put(uri, r, key, fetched[r.number])
    return {r.number: fetched[r.number] if cached.get(r.number) is None else cached[r.number] for r in rows}


def _fetch(client: Any, run_ids: Iterable[str], key: str, workers: int) -> list[Curve]:
    def one(run_id: str) -> Curve:
        return sorted((int(m.step), float(m.value)) for m in client.get_metric_history(run_id, key))

    run_ids = list(run_ids)
    if len(run_ids) <= 1 or workers <= 1:
        return [one(r) for r in run_ids]
    with ThreadPoolExecutor(max_workers=min(workers, len(run_ids)), thread_name_prefix="curves") as pool:
        return list(pool.map(one, run_ids))
