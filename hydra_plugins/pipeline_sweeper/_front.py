"""Several objectives in the sweep's record: the Pareto front as trials end (tagged on their runs so that a filter
of MLflow's UI shows it), the one trial the selection rule names best, and the hypervolume history the parent
holds at the end, against a reference point the user set or the trials decide (``pareto.reference_point``).

Every function here is of the trial records; the arithmetic is ``pipeline.search.pareto``'s.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from hydra_plugins.pipeline_sweeper._plan import SweepPlan
from pipeline.objective import sign
from pipeline.search.pareto import hypervolume, non_dominated, reference_point
from pipeline.tracking import names
from pipeline.tracking.names import TrialState
from pipeline.tracking.sweep_run import TrialRecord, best_record


def judged(records: Sequence[TrialRecord]) -> list[TrialRecord]:
    """Complete feasible trials with every objective's value: those a front or a best is made of."""
    return [r for r in records if r.state == TrialState.COMPLETE and r.values is not None and r.feasible
            and all(math.isfinite(v) for v in r.values)]


def losses(plan: SweepPlan, records: Sequence[TrialRecord]) -> np.ndarray:
    """The records' values as losses ``(n, m)``: each maximized objective negated."""
    signs = np.array(plan.goals.signs())
    return np.array([r.values for r in records], dtype=float).reshape(len(records), len(signs)) * signs


def front(plan: SweepPlan, records: Sequence[TrialRecord]) -> list[TrialRecord]:
    """The trials on the Pareto front (feasible, complete, dominated by none), in trial order."""
    done = judged(records)
    if not done:
        return []
    keep = non_dominated(losses(plan, done))
    return sorted((r for r, k in zip(done, keep) if k), key=lambda r: r.number)


def best(plan: SweepPlan, records: Sequence[TrialRecord]) -> TrialRecord | None:
    """The best trial: with one objective, the best feasible one; with several, the front trial the selection rule
    names (``hydra.sweeper.select``: the best of one value among those meeting its limits)."""
    if not plan.multi:
        return best_record(records, plan.direction)
    rule = plan.selection
    labels = plan.goals.labels

    def value(r: TrialRecord, name: str) -> float | None:
        return r.values[labels.index(name)] if name in labels else r.metrics.get(name)

    ok = [r for r in front(plan, records) if value(r, rule.name) is not None
          and all(value(r, c.name) is not None and c.met(value(r, c.name)) for c in rule.where)]
    return min(ok, key=lambda r: (sign(rule.direction) * value(r, rule.name), r.number)) if ok else None


def selected_value(plan: SweepPlan, record: TrialRecord) -> float | None:
    """The value the best is chosen by: the objective, or with several, the selection rule's."""
    if not plan.multi:
        return record.value
    name = plan.selection.name
    labels = plan.goals.labels
    return record.values[labels.index(name)] if name in labels and record.values else record.metrics.get(name)


def reference(plan: SweepPlan, records: Sequence[TrialRecord]) -> tuple[float, ...] | None:
    """The hypervolume's reference point in the objectives' own units: the user's, else each objective's worst
    value over the feasible trials plus a tenth of its range (None before any)."""
    if plan.reference_point:
        return tuple(plan.reference_point)
    done = judged(records)
    if not done:
        return None
    signs = np.array(plan.goals.signs())
    return tuple(float(v) for v in reference_point(losses(plan, done)) * signs)


def hypervolumes(plan: SweepPlan, records: Sequence[TrialRecord], ref: Sequence[float]) -> list[tuple[int, float]]:
    """``(trial number, hypervolume of the feasible front after it)`` for every ended trial, in number order."""
    signs = np.array(plan.goals.signs())
    ref_loss = np.asarray(ref, dtype=float) * signs
    out, done = [], []
    good = {id(r) for r in judged(records)}
    for r in sorted(records, key=lambda r: r.number):
        if id(r) in good:
            done.append(r)
        out.append((r.number, hypervolume(losses(plan, done), ref_loss) if done else 0.0))
    return out


def current_hypervolume(plan: SweepPlan, records: Sequence[TrialRecord]) -> float | None:
    """The hypervolume of the feasible front so far against the user's reference point (None without one: the
    reference is then decided at the end, and so is the history)."""
    if not plan.multi or not plan.reference_point:
        return None
    done = judged(records)
    ref = np.asarray(plan.reference_point, dtype=float) * np.array(plan.goals.signs())
    return hypervolume(losses(plan, done), ref) if done else 0.0


class TrialTags:
    """Tags that say where an ended trial stands: ``trial.feasible`` (with constraints) on it, and ``pareto.front``
    (several objectives) true on each trial while it is on the front, false once it left or was judged off it; one
    batched call per run whose standing changed (the trial that ended, the few it pushes off)."""

    def __init__(self, plan: SweepPlan, client: Any) -> None:
        self.plan, self.client = plan, client
        self.on: dict[int, str] = {}  # trial number -> run id, on the front now

    def update(self, records: Sequence[TrialRecord], trial_runs: dict[int, str], ended: TrialRecord) -> None:
        from mlflow.entities import RunTag

        tags: dict[int, dict[str, str]] = {}
        if self.plan.limits and ended.constraints is not None:
            tags[ended.number] = {names.FEASIBLE_TAG: str(ended.feasible).lower()}
        run_of = {ended.number: ended.run_id or trial_runs.get(ended.number, "")}
        if self.plan.multi:
            now = {r.number: r.run_id or trial_runs.get(r.number, "") for r in front(self.plan, records)}
            flags = {n: "true" for n in set(now) - set(self.on)}
            flags.update({n: "false" for n in set(self.on) - set(now)})
            if ended.state == TrialState.COMPLETE and ended.number not in now:
                flags[ended.number] = "false"
            for number, flag in flags.items():
                tags.setdefault(number, {})[names.FRONT_TAG] = flag
            run_of.update({**self.on, **now})
            self.on = now
        for number, found in tags.items():
            run_id = run_of.get(number) or trial_runs.get(number, "")
            if run_id:
                self.client.log_batch(run_id, tags=[RunTag(k, v) for k, v in found.items()])


def results(plan: SweepPlan, records: Sequence[TrialRecord]) -> dict[str, Any]:
    """The part of ``optimization_results.yaml`` several objectives add: the objectives, the reference point, the
    front (each trial's values, parameters, run and re-run command) and its hypervolume."""
    labels = plan.goals.labels
    ref = reference(plan, records)
    members = front(plan, records)
    out: dict[str, Any] = {
        "objectives": [{"name": n, "direction": d} for n, d in zip(labels, plan.goals.directions)],
        "select": str(plan.selection), "reference_point": list(ref) if ref else None,
        names.HYPERVOLUME: hypervolumes(plan, records, ref)[-1][1] if ref and records else 0.0,
        "front": [{"trial": r.number, "run_id": r.run_id, "values": dict(zip(labels, r.values)),
                   "params": dict(r.params), "command": plan.best_command(r.params)} for r in members]}
    return out


def parent_record(plan: SweepPlan, records: Sequence[TrialRecord]) -> tuple[dict[str, str], list[tuple[int, float]]]:
    """What the parent holds at the end: the front's trial numbers and the reference point as tags, and the
    hypervolume after each trial (unless the user set the reference point: then each was logged as it ended)."""
    ref = reference(plan, records)
    if ref is None:
        return {}, []
    tags = {names.FRONT_TRIALS_TAG: names.clip_json([r.number for r in front(plan, records)]),
            names.REFERENCE_POINT_TAG: names.clip_json(list(ref))}
    return tags, [] if plan.reference_point else hypervolumes(plan, records, ref)  # a set reference: logged live
