"""A sweep read back from MLflow as one tidy table: a row per trial with state, value, parameters, scores.

The cost is fixed whatever the sweep's size: one ``get_run`` for the parent, one paged
``search_runs`` for all its children, and one metric history per learning curve, for the top
``top_k`` trials only. Sweeps that ended early, were resumed, lost trials to errors, or came from
Hydra's basic sweeper (no recorded search space) are all read the same way.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pipeline.search.space import CategoricalParam, FloatParam, IntParam, Param, SearchSpace
from pipeline.tracking import get_client, iter_runs

OBJECTIVE_KEY = "cv_mean"        # the value every trial returns to the sweeper
PRUNED_VALUE_KEY = "pruned_value"  # the last reported value of a pruned trial
TOP_K = 5                        # learning curves are fetched for this many of the best trials
LOG_SPAN = 100.0                 # basic sweeps: positive numbers spanning this ratio get log axes
STATES = ("complete", "pruned", "failed", "interrupted", "running")
_BOOKKEEPING = ("tracking.", "+tracking.", "hydra.", "~")  # overrides that are not searched parameters


@dataclass
class TrialRow:
    """One trial: ``value`` is the objective (``cv_mean``; the last reported value when pruned)."""

    number: int
    state: str
    value: float | None
    params: dict[str, Any]
    run_id: str = ""
    cv_std: float | None = None
    test_accuracy: float | None = None
    test_loss: float | None = None
    error: str = ""
    curve: list[tuple[int, float]] = field(default_factory=list)  # (epoch, cv/<metric>), top trials only


@dataclass
class SweepHistory:
    """Every trial of one sweep, the space they were drawn from, and which way is better."""

    parent_run_id: str
    experiment_id: str
    strategy: str
    direction: str   # minimize | maximize
    metric: str      # the per-epoch metric behind the objective: val_accuracy | val_loss
    space: SearchSpace
    trials: list[TrialRow]
    status: str = "FINISHED"
    n_planned: int | None = None

    @property
    def sign(self) -> float:
        """+1 to minimize, -1 to maximize: ``sign * value`` is smaller for better trials."""
        return 1.0 if self.direction == "minimize" else -1.0

    @property
    def test_key(self) -> str:
        """The held-out metric matching the objective: ``val_accuracy`` -> ``test_accuracy``."""
        return "test_" + self.metric.removeprefix("val_")

    def test_score(self, row: TrialRow) -> float | None:
        return getattr(row, self.test_key, None)

    def ranked(self) -> list[TrialRow]:
        """Complete trials with a finite value, best first (ties: the earlier trial first)."""
        done = [r for r in self.trials if r.state == "complete" and _finite(r.value)]
        return sorted(done, key=lambda r: (self.sign * r.value, r.number))

    @property
    def best(self) -> TrialRow | None:
        ranked = self.ranked()
        return ranked[0] if ranked else None

    def best_so_far(self) -> list[tuple[int, float]]:
        """``(trial number, best complete value up to it)`` for each complete trial, in trial order."""
        out: list[tuple[int, float]] = []
        for r in sorted(self.ranked(), key=lambda r: r.number):
            best = r.value if not out or self.sign * r.value < self.sign * out[-1][1] else out[-1][1]
            out.append((r.number, best))
        return out

    def counts(self) -> dict[str, int]:
        found = Counter(r.state for r in self.trials)
        return {s: found.get(s, 0) for s in STATES}

    def rows(self) -> list[dict[str, Any]]:
        """The tidy table: one dict per trial, the searched parameters as columns."""
        return [{"trial": r.number, "state": r.state, "value": r.value, "cv_std": r.cv_std,
                 self.test_key: self.test_score(r), **{n: r.params.get(n) for n in self.space.names},
                 "run_id": r.run_id, "error": r.error} for r in self.trials]


@dataclass(frozen=True)
class SelectionGap:
    """How much better the chosen trial looked in cross-validation than on the held-out test split.

    ``gap`` is sign-aware: positive means the CV score was optimistic (test accuracy lower, or test
    loss higher, than in CV). Even a trial nobody selected shows some gap (CV models train on
    (k-1)/k of the data, the refit on all of it), so ``median_gap`` over every complete trial with
    a test score is the baseline, and ``optimism`` = ``gap - median_gap`` the part due to selection.
    """

    trial: int
    metric: str
    cv_score: float
    cv_std: float | None
    test_score: float
    gap: float
    median_gap: float | None
    n_tested: int

    @property
    def optimism(self) -> float | None:
        return None if self.median_gap is None else self.gap - self.median_gap


def selection_gap(history: SweepHistory) -> SelectionGap | None:
    """The best trial's gap, or None when it has no held-out test score (``cv.refit=false``)."""
    best = history.best
    if best is None or not _finite(history.test_score(best)):
        return None
    gaps = [history.sign * (history.test_score(r) - r.value) for r in history.ranked()
            if _finite(history.test_score(r))]
    return SelectionGap(best.number, history.metric, best.value, best.cv_std, history.test_score(best),
                        history.sign * (history.test_score(best) - best.value),
                        statistics.median(gaps) if len(gaps) > 1 else None, len(gaps))


# -- reading MLflow -------------------------------------------------------------------------------
def load_history(uri: str, parent_run_id: str, top_k: int = TOP_K) -> SweepHistory:
    """Read the sweep whose parent run is ``parent_run_id``; curves for the ``top_k`` best trials."""
    client = get_client(uri)
    parent = client.get_run(parent_run_id)
    tags = parent.data.tags
    children = sorted(iter_runs(client, [parent.info.experiment_id],
                                f"tags.`mlflow.parentRunId` = '{parent_run_id}'"),
                      key=lambda r: (r.info.start_time or 0, r.info.run_id))
    numbers = [_int(r.data.tags.get("trial.number"), i) for i, r in enumerate(children)]
    launched = _launched_params(tags)
    raw = [launched.get(n) or override_params(r) for n, r in zip(numbers, children)]
    space = _recorded_space(tags) or infer_space(raw)
    trials = sorted((_row(r, n, p, space) for r, n, p in zip(children, numbers, raw)), key=lambda t: t.number)
    metric = _objective_metric(children, tags.get("sweep.direction"))
    history = SweepHistory(parent_run_id, parent.info.experiment_id, tags.get("sweep.strategy", "?"),
                           _direction(tags.get("sweep.direction"), metric), metric, space, trials,
                           parent.info.status, _int(tags.get("sweep.n_trials"), None))
    for row in history.ranked()[:top_k]:
        row.curve = sorted((m.step, m.value) for m in client.get_metric_history(row.run_id, f"cv/{metric}"))
    return history


def trial_state(run: Any) -> str:
    """complete | pruned | failed | interrupted (killed, or launched and never ended) | running."""
    tags, status = run.data.tags, run.info.status
    if tags.get("trial.pruned") == "true" or tags.get("trial.state") == "pruned":
        return "pruned"
    if status == "FINISHED":
        return "complete" if OBJECTIVE_KEY in run.data.metrics else "failed"
    if status == "FAILED":
        return "failed"
    return "running" if status in ("RUNNING", "SCHEDULED") else "interrupted"


def _row(run: Any, number: int, params: Mapping[str, Any], space: SearchSpace) -> TrialRow:
    state, m = trial_state(run), run.data.metrics
    value = m.get(PRUNED_VALUE_KEY, m.get(OBJECTIVE_KEY)) if state == "pruned" else m.get(OBJECTIVE_KEY)
    return TrialRow(number, state, value if state in ("complete", "pruned") and _finite(value) else None,
                    _typed(params, space), run.info.run_id, m.get("cv_std"), m.get("test_accuracy"),
                    m.get("test_loss"), run.data.tags.get("error", ""))


def _recorded_space(tags: Mapping[str, str]) -> SearchSpace | None:
    """The space the sweeper recorded (None for a basic sweep, or a tag clipped at MLflow's length limit)."""
    try:
        return SearchSpace(SearchSpace.from_grammar(json.loads(tags["sweep.space"])).params)
    except (KeyError, ValueError):
        return None


def infer_space(points: Sequence[Mapping[str, Any]]) -> SearchSpace:
    """A space for sweeps that recorded none: every key taking two or more values across ``points``.

    Numbers become float or int parameters (log scale when positive and spanning ``LOG_SPAN``),
    anything else a categorical one; a guess from what was run, not what was declared.
    """
    names = list(dict.fromkeys(k for p in points for k in p))
    params: list[Param] = []
    for name in names:
        values = list({repr(v): v for p in points if name in p for v in [p[name]]}.values())
        if len(values) < 2:
            continue
        if not all(_finite(v) for v in values):
            params.append(CategoricalParam(name, tuple(values)))
            continue
        low, high = min(values), max(values)
        if low == high:  # 1 and 1.0
            continue
        log = low > 0 and high / low >= LOG_SPAN
        kind = IntParam if all(isinstance(v, int) for v in values) else FloatParam
        params.append(kind(name, low, high, log=log))
    return SearchSpace(tuple(params))


def override_params(run: Any) -> dict[str, Any]:
    """``key=value`` overrides of a trial (its ``hydra.overrides`` tag) as typed values, bookkeeping left out."""
    try:
        items = json.loads(run.data.tags.get("hydra.overrides") or "[]")
    except ValueError:
        return {}
    out = {}
    for item in items:
        key, sep, value = str(item).partition("=")
        if sep and not key.startswith(_BOOKKEEPING):
            out[key] = parse_scalar(value)
    return out


def parse_scalar(text: str) -> Any:
    """An override's value as Python: ``16`` -> 16, ``1e-3`` -> 0.001, ``true`` -> True, ``'a b'`` -> 'a b'."""
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False, "null": None}.get(text.lower(), text.strip("'\""))


def _typed(params: Mapping[str, Any], space: SearchSpace) -> dict[str, Any]:
    """The searched parameters only, values read back as text ("0.01", "16") as the parameter's type."""
    out = {n: params[n] for n in space.names if n in params}
    for p in space.params:
        with contextlib.suppress(KeyError, ValueError):
            out[p.name] = p.check(out[p.name])
    return out


def _launched_params(tags: Mapping[str, str]) -> dict[int, dict[str, Any]]:
    """What the sweeper proposed for each trial, from the parent's ``trial.<k>.params`` tags."""
    out = {}
    for key, value in tags.items():
        match = re.fullmatch(r"trial\.(\d+)\.params", key)
        with contextlib.suppress(ValueError, TypeError):
            out.update({int(match[1]): dict(json.loads(value))} if match else {})
    return out


def _objective_metric(children: Sequence[Any], direction: str | None) -> str:
    found = Counter(r.data.tags["objective.metric"] for r in children if "objective.metric" in r.data.tags)
    if found:
        return found.most_common(1)[0][0]
    return "val_loss" if direction == "minimize" else "val_accuracy"


def _direction(recorded: str | None, metric: str) -> str:
    if recorded in ("minimize", "maximize"):
        return recorded
    return "minimize" if "loss" in metric or "error" in metric else "maximize"


def _int(text: str | None, default: int | None) -> int | None:
    try:
        return int(text) if text is not None else default
    except ValueError:
        return default


def _finite(v: Any) -> bool:
    """A finite int or float (not a bool, not None)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
