"""The sweep's parent run: created for a new sweep, or reopened for a resumed one with what it already holds
(the ended trials told to the optimizer, the interrupted ones to run again), and the progress it counts."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from hydra_plugins.pipeline_sweeper._plan import SweepPlan
from pipeline.search.space import params_equal
from pipeline.tracking import lease, names
from pipeline.tracking.names import TrialState
from pipeline.tracking.sweep_run import SweepRun, TrialRecord, load_state

log = logging.getLogger(__name__)


@dataclass
class SweepProgress:
    """Trials of this sweep (told from a resumed parent too) and when this session started."""

    records: list[TrialRecord] = field(default_factory=list)
    next_number: int = 0
    started: float = field(default_factory=time.monotonic)

    def count(self, state: TrialState) -> int:
        return sum(r.state == state for r in self.records)

    def counts(self) -> dict[str, int]:
        return {str(s): self.count(s) for s in names.ENDED}

    @property
    def ended(self) -> int:
        return sum(TrialState(r.state).ended for r in self.records)


def open_parent(plan: SweepPlan, optimizer: Any) -> tuple[SweepRun, SweepProgress, list[TrialRecord]]:
    """Create the parent run, or reopen it and tell the optimizer what it already holds: the parent, the
    progress so far, and the interrupted trials to run again."""
    progress = SweepProgress()
    if not plan.resume:
        tags = {**plan.recorded().encode(), names.LEASE_TAG: lease.own()}
        parent = SweepRun.create(plan.uri, plan.experiment, plan.name, tags, plan.recorded().params(plan.n_jobs))
        return parent, progress, []
    from hydra_plugins.pipeline_sweeper._trials import restore

    names_ = {*plan.goals.labels, *(c.name for c in plan.limits), *(c.name for c in plan.selection.where)} \
        if plan.multi or plan.constraints else set()
    state = load_state(plan.uri, plan.resume, {n: plan.value_key(n) for n in names_})
    for r in state.ended:
        restore(r, plan.goals, plan.limits)
        optimizer.tell(r.params, r.values if plan.multi else r.value, state=str(r.state), constraints=r.constraints)
    progress.records, progress.next_number = list(state.ended), state.next_number
    log.info("Resuming sweep %s (%s): %d trials ended, %d interrupted to run again, next %s", plan.name,
             plan.resume, len(state.ended), len(state.interrupted), names.trial_run_name(state.next_number))
    return SweepRun.reopen(plan.uri, plan.resume, lease.own()), progress, list(state.interrupted)


def lineage(optimizer: Any, records: list[TrialRecord], searched: list[str], numbers: list[int],
            batch: list[dict[str, Any]]) -> dict[int, dict[str, str]]:
    """For a strategy that mutates told trials (evolution): each child's parent trial, as a tag of its run."""
    parent_of = getattr(optimizer, "parent_of", None)
    if parent_of is None:
        return {}
    out = {}
    for number, params in zip(numbers, batch):
        parent = parent_of(params)
        found = parent is not None and next((r for r in reversed(records) if params_equal(r.params, parent, searched)),
                                            None)
        if found:
            out[number] = {names.MUTATED_FROM_TAG: names.trial_run_name(found.number)}
    return out
