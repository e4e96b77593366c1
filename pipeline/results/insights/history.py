"""A sweep read back from MLflow as one tidy table: a row per trial with state, value, parameters, scores.

The cost is fixed whatever the sweep's size: one ``get_run`` for the parent, one paged
``search_runs`` for all its children, and one metric history per learning curve, for the top
``top_k`` trials only (``pipeline.results.insights.curves`` fetches every trial's, in parallel). Sweeps that
ended early, were resumed, lost trials to errors, or came from Hydra's basic sweeper (no recorded search
space) are all read the same way.
"""

from __future__ import annotations

import contextlib
import json
import math
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pipeline import objective
from pipeline.objective import OBJECTIVE_STD_KEY
from pipeline.search.space import CategoricalParam, FloatParam, IntParam, Param, SearchSpace
from pipeline.tracking import names, runs
from pipeline.tracking.names import SweepTags, TrialState
from pipeline.tracking.store import get_client

TOP_K = 5                        # learning curves are fetched for this many of the best trials
LOG_SPAN = 100.0                 # basic sweeps: positive numbers spanning this ratio get log axes
_BOOKKEEPING = ("tracking.", "+tracking.", "hydra.", "~")  # overrides that are not searched parameters


@dataclass
class TrialRow:
    """One trial: ``value`` is the objective (the last reported value when pruned), ``tests`` its held-out scores."""

    number: int
    state: str
    value: float | None
    params: dict[str, Any]
    run_id: str = ""
    cv_std: float | None = None
    tests: dict[str, float] = field(default_factory=dict)  # test_accuracy, test_loss, ...
    error: str = ""
    curve: list[tuple[int, float]] = field(default_factory=list)  # (epoch, cv/<metric>), top trials only
    start_ms: int | None = None   # the child run's start and end (ms since the epoch); end None while running
    end_ms: int | None = None
    has_steps: bool = False       # whether the run logged the sweep's per-step curve (``SweepHistory.step_key``)
    worker: str = ""              # the process that ran it (``run_record.LEASE_TAG``: host:pid:start), if recorded
    values: tuple[float, ...] | None = None  # several objectives: one value each, as ``SweepHistory.goals`` names them
    feasible: bool = True         # every constraint met (a sweep without constraints: always)
    named: dict[str, float] = field(default_factory=dict)  # the values constraints and the selection rule name


@dataclass
class SweepHistory:
    """Every trial of one sweep, the space they were drawn from, and which way is better."""

    parent_run_id: str
    experiment_id: str
    strategy: str
    direction: str   # minimize | maximize
    metric: str | None  # the per-epoch metric behind the objective (cv.metric); None for a foreign app
    space: SearchSpace
    trials: list[TrialRow]
    status: str = TrialState.COMPLETE.run_status  # the parent run's MLflow status
    n_planned: int | None = None
    step_key: str | None = None  # the per-step metric of every trial: intermediate/objective, else cv/<metric>
    open_trials: list[int] = field(default_factory=list)  # launched, not ended, not run again under a new number
    goals: objective.Objectives | None = None  # several objectives (None: one, ``direction``)
    constraints: tuple[objective.Constraint, ...] = ()
    reference_point: tuple[float, ...] | None = None  # the hypervolume's, as the sweep recorded it
    hypervolume: list[tuple[int, float]] = field(default_factory=list)  # (trial, the parent's metric after it)

    @property
    def multi(self) -> bool:
        return self.goals is not None and self.goals.multi

    @property
    def selection(self) -> objective.Selection | None:
        return None if not self.multi else objective.parse_selection(self._select, self.goals)

    _select: str | None = None

    def front(self) -> list[TrialRow]:
        """The trials on the Pareto front (complete, feasible, dominated by none), in trial order."""
        from pipeline.search.pareto import non_dominated

        if not self.multi:
            return [self.best] if self.best else []
        done = [r for r in self.trials if r.state == TrialState.COMPLETE and r.values is not None and r.feasible]
        if not done:
            return []
        keep = non_dominated([[v * s for v, s in zip(r.values, self.goals.signs())] for r in done])
        return [r for r, k in zip(done, keep) if k]

    def broken(self, row: TrialRow) -> list[str]:
        """The constraints ``row`` breaks, each with the value it measured (``size<=60 (size=93.1)``); a value the
        trial did not report breaks its constraint too (``size<=60 (not reported)``)."""
        return [f"{c} ({c.name}={row.named[c.name]:.6g})" if c.name in row.named else f"{c} (not reported)"
                for c in self.constraints if c.name not in row.named or not c.met(row.named[c.name])]

    def selected_value(self, row: TrialRow) -> float | None:
        """The value the best is chosen by: the objective, or with several, the selection rule's."""
        if not self.multi:
            return row.value
        name = self.selection.name
        labels = self.goals.labels
        return row.values[labels.index(name)] if name in labels and row.values else row.named.get(name)

    @property
    def sign(self) -> float:
        """+1 to minimize, -1 to maximize: ``sign * value`` is smaller for better trials."""
        return objective.sign(self.direction)

    @property
    def label(self) -> str:
        """What the objective is, for axes and tables: ``cv val_accuracy``, or ``objective``."""
        return f"cv {self.metric}" if self.metric else "objective"

    @property
    def test_key(self) -> str | None:
        """The held-out metric matching the objective (``val_accuracy`` -> ``test_accuracy``), if any."""
        return objective.metric(self.metric).test_key if self.metric in objective.METRICS else None

    def test_score(self, row: TrialRow) -> float | None:
        return row.tests.get(self.test_key) if self.test_key else None

    def ranked(self) -> list[TrialRow]:
        """Complete feasible trials with a finite value, best first (ties: the earlier trial first)."""
        done = [r for r in self.trials if r.state == TrialState.COMPLETE and _finite(r.value) and r.feasible]
        return sorted(done, key=lambda r: (self.sign * r.value, r.number))

    @property
    def best(self) -> TrialRow | None:
        """The best feasible trial; with several objectives, the front trial the selection rule names."""
        if self.multi:
            rule = self.selection
            ok = [r for r in self.front() if _finite(self.selected_value(r)) and all(
                c.name in r.named and c.met(r.named[c.name]) for c in rule.where)]
            return min(ok, key=lambda r: (objective.sign(rule.direction) * self.selected_value(r), r.number)) \
                if ok else None
        ranked = self.ranked()
        return ranked[0] if ranked else None

    def best_so_far(self) -> list[tuple[int, float]]:
        """``(trial number, best complete value up to it)`` for each complete trial, in trial order."""
        out: list[tuple[int, float]] = []
        for r in sorted(self.ranked(), key=lambda r: r.number):
            best = r.value if objective.is_better(r.value, out[-1][1] if out else None, self.direction) else out[-1][1]
            out.append((r.number, best))
        return out

    def counts(self) -> dict[str, int]:
        found = Counter(r.state for r in self.trials)
        return {str(s): found.get(s, 0) for s in names.STATES}

    def rows(self) -> list[dict[str, Any]]:
        """The tidy table: one dict per trial, the searched parameters as columns."""
        test = {self.test_key: None} if self.test_key else {}
        return [{"trial": r.number, "state": r.state, "value": r.value, OBJECTIVE_STD_KEY: r.cv_std,
                 **{k: self.test_score(r) for k in test}, **{n: r.params.get(n) for n in self.space.names},
                 "run_id": r.run_id, "error": r.error} for r in self.trials]


@dataclass(frozen=True)
class SelectionGap:
    """How much better the chosen trial looked in cross-validation than on the held-out test split.

    ``gap`` is sign-aware: positive means the held-out test score came out worse than the CV score
    (test accuracy lower, or test loss higher), negative that it came out better. Even a trial nobody selected shows
    some gap (CV models train on
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


@dataclass(frozen=True)
class BoundNote:
    """A searched number whose best value lies on a bound of its range: better values may lie beyond it."""

    name: str
    side: str  # lower | upper
    value: float
    low: float
    high: float
    n_top: int    # how many of the best ``of_top`` trials lie on the same bound
    of_top: int

    def text(self) -> str:
        return (f"{self.name}={self.value:.6g} of the best trial lies on the {self.side} bound of its range "
                f"[{self.low:.6g}, {self.high:.6g}] ({self.n_top} of the {self.of_top} best trials do): better "
                "values may lie beyond it; widen the range")


def bound_notes(history: SweepHistory, top: int = TOP_K, tol: float = 0.02) -> list[BoundNote]:
    """The numeric parameters whose best trial's value lies within ``tol`` of a bound of the searched range (on
    the parameter's own scale: log for a log-scale one), as do most of the ``top`` best trials: one trial on a
    bound is chance, most of the best there say the optimum may lie beyond it."""
    ranked = history.ranked()[:top]
    if not ranked:
        return []
    notes = []
    for p in history.space.params:
        if isinstance(p, CategoricalParam) or not float(p.high) > float(p.low):
            continue
        sides = [_side(p, r.params.get(p.name), tol) for r in ranked]
        if sides[0] is not None and 2 * sides.count(sides[0]) > len(sides):
            notes.append(BoundNote(p.name, sides[0], float(ranked[0].params[p.name]), float(p.low), float(p.high),
                                   sides.count(sides[0]), len(ranked)))
    return notes


def _side(p: Param, value: Any, tol: float) -> str | None:
    """``lower`` or ``upper`` when ``value`` lies within ``tol`` of that bound of ``p`` (share of its range)."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    scale = math.log if getattr(p, "log", False) and x > 0 else (lambda v: v)
    low, high = scale(float(p.low)), scale(float(p.high))
    at = (scale(x) - low) / (high - low)
    return "lower" if at <= tol else "upper" if at >= 1 - tol else None


# -- reading MLflow -------------------------------------------------------------------------------
def load_history(uri: str, parent_run_id: str, top_k: int = TOP_K) -> SweepHistory:
    """Read the sweep whose parent run is ``parent_run_id``; curves for the ``top_k`` best trials."""
    client = get_client(uri)
    parent = client.get_run(parent_run_id)
    tags = parent.data.tags
    children = sorted(runs.child_runs(client, parent.info.experiment_id, parent_run_id),
                      key=lambda r: (r.info.start_time or 0, r.info.run_id))
    numbers = [runs.trial_number(r, i) for i, r in enumerate(children)]
    launched, recorded = runs.launched(tags, children), SweepTags.decode(tags)
    raw = [launched.get(n) or override_params(r) for n, r in zip(numbers, children)]
    space = _recorded_space(recorded) or infer_space(raw)
    key = runs.objective_key(tags)
    metric = _objective_metric(children)
    steps = step_key(children, metric)
    trials = sorted((_row(r, n, p, space, key, steps) for r, n, p in zip(children, numbers, raw)),
                    key=lambda t: t.number)
    direction = objective.resolve_direction(recorded.direction, metric if metric in objective.METRICS else None)
    ended = {t.number for t in trials if t.state in names.ENDED}
    history = SweepHistory(parent_run_id, parent.info.experiment_id, recorded.strategy or "?", direction, metric,
                           space, trials, parent.info.status, recorded.n_trials, steps,
                           sorted(set(launched) - ended - runs.rerun(tags, children)))
    _judge(history, recorded, children, tags)
    if history.multi:
        history.hypervolume = _last_per_step(client.get_metric_history(parent_run_id, names.HYPERVOLUME))
    if metric in objective.METRICS:
        curve = objective.metric(metric).curve_key
        for row in history.ranked()[:top_k]:
            row.curve = sorted((m.step, m.value) for m in client.get_metric_history(row.run_id, curve))
    return history


def _judge(history: SweepHistory, recorded: SweepTags, children: Sequence[Any], tags: Mapping[str, str]) -> None:
    """Several objectives and constraints as the sweep recorded them: each trial's values and feasibility."""
    if not recorded.directions and not recorded.constraints:
        return
    if recorded.directions:
        history.goals = objective.Objectives(tuple(recorded.objectives), tuple(recorded.directions))
        history._select = recorded.select
    history.constraints = tuple(objective.parse_constraint(c) for c in recorded.constraints)
    ref = _json_list(tags.get(names.REFERENCE_POINT_TAG)) or recorded.reference_point
    history.reference_point = tuple(ref) if ref else None
    by_run = {r.info.run_id: r.data.metrics for r in children}
    limit_keys = dict(zip((c.name for c in history.constraints), recorded.constraint_keys))
    rule = history.selection
    protocol = history.metric is not None  # this project's trials: a metric's mean is logged as cv_<metric>_mean
    wanted = {**limit_keys, **{c.name: objective.run_key(c.name, protocol) for c in (rule.where if rule else ())}}
    if rule and rule.name not in (history.goals.labels if history.goals else ()):
        wanted[rule.name] = objective.run_key(rule.name, protocol)
    for row in history.trials:
        m = by_run.get(row.run_id, {})
        if history.goals is not None:
            found = [m.get(k) for k in recorded.objective_keys]
            row.values = tuple(found) if found and None not in found else None
        row.named = {n: m[k] for n, k in wanted.items() if k in m}
        row.feasible = all(c.name in row.named and c.met(row.named[c.name]) for c in history.constraints)


def _last_per_step(metrics: Sequence[Any]) -> list[tuple[int, float]]:
    """``(step, value)`` of a metric's history in step order, the latest value of a step logged twice (a sweep
    resumed after its end logs its history again)."""
    latest = {m.step: m.value for m in sorted(metrics, key=lambda m: (m.step, m.timestamp))}
    return sorted(latest.items())


def _json_list(text: str | None) -> list[float] | None:
    try:
        value = json.loads(text) if text else None
    except ValueError:
        return None
    return value if isinstance(value, list) else None


def step_key(children: Sequence[Any], metric: str | None) -> str | None:
    """The per-step curve every trial can be drawn with: the pruner's intermediate objective when any
    trial logged it (pruned trials have nothing else), else the fold-averaged ``cv/<metric>``."""
    if any(names.INTERMEDIATE in r.data.metrics for r in children):
        return names.INTERMEDIATE
    return objective.metric(metric).curve_key if metric in objective.METRICS else None


def _row(run: Any, number: int, params: Mapping[str, Any], space: SearchSpace, key: str,
         steps: str | None) -> TrialRow:
    state, m = runs.trial_state(run), run.data.metrics
    value = runs.trial_value(run, state, key)
    return TrialRow(number, state, value if _finite(value) else None, _typed(params, space), run.info.run_id,
                    m.get(OBJECTIVE_STD_KEY), {k: v for k, v in m.items() if k.startswith("test_")},
                    run.data.tags.get(names.ERROR_TAG, ""), start_ms=run.info.start_time,
                    end_ms=run.info.end_time, has_steps=steps in m, worker=run.data.tags.get(names.LEASE_TAG, ""))


def _recorded_space(recorded: SweepTags) -> SearchSpace | None:
    """The space the sweeper recorded (None for a basic sweep, or a tag clipped at MLflow's length limit)."""
    if recorded.space is None:
        return None
    try:
        space = SearchSpace.from_grammar(recorded.space, recorded.conditions or None)
        return SearchSpace(space.params, {}, space.conditions)
    except ValueError:
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
        items = json.loads(run.data.tags.get(names.OVERRIDES_TAG) or "[]")
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


def _objective_metric(children: Sequence[Any]) -> str | None:
    """The ``cv.metric`` the trials were judged on (their ``objective.metric`` tag), if they say."""
    tag = names.OBJECTIVE_METRIC_TAG
    found = Counter(r.data.tags[tag] for r in children if tag in r.data.tags)
    return found.most_common(1)[0][0] if found else None


def _finite(v: Any) -> bool:
    """A finite int or float (not a bool, not None)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
