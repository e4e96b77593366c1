"""The trial side of pruning: report intermediate objectives, read the sweep's siblings, decide.

Intermediate value at step ``s`` (fold ``k``, epoch ``e``; ``s = k * trainer.epochs + e``): the mean
over folds of each finished fold's best score and the running fold's best score so far. It is on the
scale and direction of the final objective (the mean of the folds' best scores), which it equals at
the trial's last step, so values of different trials at one step are comparable.

Decisions use the shared MLflow store, which every launcher's workers reach already (the trials log
there): siblings are the parent run's other children; nothing is shared in memory with the sweeper.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from pipeline import objective
from pipeline.pruning.rules import PRUNERS, Curve, asha_promotable, median_prune, pareto_median_prune, rung_step
from pipeline.tracking import names, runs
from pipeline.tracking.names import TrialState
from pipeline.tracking.tracker import Tracker

log = logging.getLogger("pipeline")

REFRESH_SECONDS = 2.0  # how stale the view of completed siblings may be (one search call per refresh)


class TrialPruned(Exception):
    """Raised inside the epoch loop when the pruner stops the trial; ``values``: with several objectives, the
    intermediate value of each it compared."""

    def __init__(self, step: int, value: float, fold: int, epoch: int, values: dict[str, float] | None = None) -> None:
        super().__init__(f"pruned at step {step} (fold {fold + 1}, epoch {epoch}) with intermediate value {value:.6g}"
                         + (f" ({', '.join(f'{k} {v:.6g}' for k, v in values.items())})" if values else ""))
        self.step, self.value, self.fold, self.epoch = step, value, fold, epoch
        self.values = dict(values or {})


class Siblings:
    """A cached view of the other trials of the same sweep, read from MLflow."""

    def __init__(self, tracker: Tracker, parent_run_id: str) -> None:
        self.client, self.parent, self.own = tracker.client, parent_run_id, tracker.run_id
        self.experiment = self.client.get_run(tracker.run_id).info.experiment_id
        self.curves: dict[str, Curve] = {}
        self.runs: list[Any] = []
        self._fetched = -float("inf")
        self.named: dict[tuple[str, str], Curve] = {}  # (run id, objective) -> its intermediate curve

    def refresh(self, force: bool = False) -> None:
        if not force and time.monotonic() - self._fetched < REFRESH_SECONDS:
            return
        self.runs = [r for r in runs.child_runs(self.client, self.experiment, self.parent) if r.info.run_id != self.own]
        for r in self.runs:
            if r.data.tags.get(names.TRIAL_STATE_TAG) == TrialState.COMPLETE and r.info.run_id not in self.curves:
                history = self.client.get_metric_history(r.info.run_id, names.INTERMEDIATE)
                self.curves[r.info.run_id] = {m.step: m.value for m in history}
        self._fetched = time.monotonic()

    def completed(self) -> list[Curve]:
        self.refresh()
        return [c for c in self.curves.values() if c]

    def completed_values(self, step: int, curves: list[str], static: list[str]) -> list[list[float]]:
        """Each completed sibling's values at ``step``: of ``curves`` (objectives with an intermediate curve, carried
        forward) then of ``static`` (values known before training, read from its run's metrics)."""
        from pipeline.pruning.rules import value_at

        self.refresh()
        out = []
        for r in self.runs:
            if r.info.run_id not in self.curves:
                continue
            row = []
            for name in curves:
                key = (r.info.run_id, name)
                if key not in self.named:
                    history = self.client.get_metric_history(r.info.run_id, names.intermediate_metric(name))
                    self.named[key] = {m.step: m.value for m in history}
                row.append(value_at(self.named[key], step))
            row += [r.data.metrics.get(name) for name in static]
            if None not in row:
                out.append(row)
        return out

    def at_rung(self, rung: int) -> list[float]:
        self.refresh(force=True)
        key = names.rung_tag(rung)
        return [float(r.data.tags[key]) for r in self.runs if key in r.data.tags]


class PruningReporter:
    """Fold callback: logs the intermediate objective every epoch and raises ``TrialPruned`` when told to."""

    def __init__(self, cfg: Any, tracker: Tracker, siblings: Siblings, static: dict[str, float] | None = None) -> None:
        self.opts, self.tracker, self.siblings = cfg.pruning, tracker, siblings
        self.metric, self.epochs = cfg.cv.metric, int(cfg.trainer.epochs)
        self.maximize = objective.metric(self.metric).maximize
        self.fold_scores: list[float] = []
        self.best_in_fold: float | None = None
        self.rung = 0
        # Several objectives (``pruning.objectives``, set by the sweeper): a metric's intermediate value is its mean
        # over folds at each fold's best epoch so far (the final value's definition); a cost known before training
        # (``static``: n_params, flops) is a constant; one measured at the end (latency) is not compared.
        wanted = list(cfg.pruning.get("objectives") or [])
        self.curved = [n for n in wanted if n in objective.METRICS]
        self.static = {n: float(static[n]) for n in wanted if static and n in static}
        self.signs = [objective.sign(objective.known_direction(n) or objective.MINIMIZE)
                      for n in (*self.curved, *self.static)]
        self.fold_best: list[dict[str, float]] = []  # each finished fold's record at its best epoch
        self.best_record: dict[str, float] = {}

    def on_epoch_end(self, fold: int, epoch: int, record: dict[str, float]) -> None:
        score = record[self.metric]
        if self.best_in_fold is None or (score > self.best_in_fold if self.maximize else score < self.best_in_fold):
            self.best_in_fold, self.best_record = score, dict(record)
        step = fold * self.epochs + epoch
        value = (sum(self.fold_scores) + self.best_in_fold) / (len(self.fold_scores) + 1)
        if self.signs:
            values = self.intermediate_values()
            self.tracker.log_metrics({names.INTERMEDIATE: value, **{names.intermediate_metric(n): values[n]
                                                                   for n in self.curved}}, step=step)
            if self.should_prune_several(step, values):
                self.tracker.flush()
                raise TrialPruned(step, value, fold, epoch, values)
            return
        self.tracker.log_metrics({names.INTERMEDIATE: value}, step=step)
        if self.should_prune(step, value):
            self.tracker.flush()
            raise TrialPruned(step, value, fold, epoch)

    def on_fold_end(self, fold: int, result: Any) -> None:
        self.fold_scores.append(result.best_score)
        self.fold_best.append(self.best_record)
        self.best_in_fold, self.best_record = None, {}

    def intermediate_values(self) -> dict[str, float]:
        """Each compared objective's intermediate value, by name (metrics, then static costs)."""
        done = [*self.fold_best, self.best_record]
        return {**{n: sum(r[n] for r in done) / len(done) for n in self.curved}, **self.static}

    def should_prune_several(self, step: int, values: dict[str, float]) -> bool:
        o = self.opts
        completed = self.siblings.completed_values(step, self.curved, list(self.static))
        return pareto_median_prune(list(values.values()), completed, self.signs, step, int(o.n_startup_trials),
                                   int(o.n_warmup_steps))

    def should_prune(self, step: int, value: float) -> bool:
        o = self.opts
        if o.pruner == "median":
            return median_prune(value, step, self.siblings.completed(), self.maximize, int(o.n_startup_trials),
                                int(o.n_warmup_steps))
        while step >= rung_step(self.rung, int(o.min_resource), int(o.reduction_factor),
                                int(o.min_early_stopping_rate)):
            self.tracker.set_tags({names.rung_tag(self.rung): repr(value)})
            competing = [*self.siblings.at_rung(self.rung), value]
            if not asha_promotable(value, competing, int(o.reduction_factor), self.maximize):
                return True
            self.rung += 1
        return False


def make_reporter(cfg: Any, tracker: Tracker, static: dict[str, float] | None = None) -> PruningReporter | None:
    """A reporter when ``pruning.pruner`` is set and the trial belongs to a sweep; else None. ``static``: the costs
    known before training (several objectives)."""
    pruning = cfg.get("pruning")
    if pruning is None or pruning.pruner == "none":
        return None
    if pruning.pruner not in PRUNERS:
        from pipeline.errors import ConfigError

        raise ConfigError(f"pruning.pruner={pruning.pruner!r} is unknown; expected one of {PRUNERS}")
    if not cfg.tracking.parent_run_id:
        log.info("pruning.pruner=%s ignored: a single run has no sweep to compare with", pruning.pruner)
        return None
    return PruningReporter(cfg, tracker, Siblings(tracker, cfg.tracking.parent_run_id), static)
