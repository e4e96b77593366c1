"""The sweep: parse -> plan -> ask -> launch -> tell -> record, trials in flight through Hydra's launcher.

``SweeperImpl`` is what Hydra talks to: it composes the launcher, turns a command line into a checked plan,
and ends the process with one line and the right exit code when something goes wrong. ``Sweep`` is one sweep's
state (its plan, optimizer, parent run, progress, the launches in flight and the trials to run again) and the
loop that keeps every slot busy until ``n_trials`` have ended.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.plugins import Plugins
from hydra.core.utils import JobReturn
from hydra.errors import HydraException
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from hydra_plugins.pipeline_sweeper._compose import ComposeCache
from hydra_plugins.pipeline_sweeper._conditional import ConditionalParams
from hydra_plugins.pipeline_sweeper._console import LaunchLines, launch_lines
from hydra_plugins.pipeline_sweeper._front import TrialTags, current_hypervolume, front, selected_value
from hydra_plugins.pipeline_sweeper._front import best as best_of
from hydra_plugins.pipeline_sweeper._health import StoreLost, StoreWatch
from hydra_plugins.pipeline_sweeper._launches import (
    Ended,
    Interrupts,
    Launches,
    PreparedSignal,
    release_idle_workers,
    slots,
    stop_workers,
    worker_died,
)
from hydra_plugins.pipeline_sweeper._parent import lineage, open_parent
from hydra_plugins.pipeline_sweeper._plan import ADAPTIVE, SweepFinished, SweepPlan
from hydra_plugins.pipeline_sweeper._planning import checked_plan
from hydra_plugins.pipeline_sweeper._trials import (
    Reading,
    SweepFailed,
    check_failures,
    check_repeating,
    end_unclaimed,
    outcome,
    record_runs,
    result_text,
)
from hydra_plugins.pipeline_sweeper._wrapup import BestModel, ReportSchedule, finish
from pipeline import runtime
from pipeline.errors import TrackingError
from pipeline.tracking import lease, names
from pipeline.tracking.names import TrialState
from pipeline.tracking.runs import running_trial_runs
from pipeline.tracking.store import MLFLOW_DEFAULTS, redact
from pipeline.tracking.sweep_run import TrialRecord

log = logging.getLogger(__name__)

USER_ERRORS = (ValueError, TrackingError, SweepFailed, StoreLost, HydraException)  # their messages say it all
KEEP_JOB_CONFIGS = 100  # larger sweeps keep each job's return value and status, not Hydra's config of it


@dataclass
class Launch:
    """Trials launched together (one, or ``batch_size``), and what each re-runs after a dead worker."""

    numbers: list[int]
    params: list[dict[str, Any]]
    overrides: list[list[str]]
    started: float = field(default_factory=time.monotonic)
    started_ms: int = field(default_factory=lambda: int(time.time() * 1000))


class SweeperImpl:
    def __init__(self, conf: dict[str, Any]) -> None:
        runtime.start(MLFLOW_DEFAULTS)  # an entry point: the sweeper's process, and the workers it starts
        self.conf = OmegaConf.to_container(OmegaConf.create(conf), resolve=True) if conf else {}
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None
        self.launcher: Any = None
        self.prepared: PreparedSignal | None = None
        self.current: Sweep | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        # Trial configs composed once per shape (``_compose``): for the launcher, the checks and the plan alike.
        hydra_context = HydraContext(config_loader=ComposeCache(hydra_context.config_loader),
                                     callbacks=hydra_context.callbacks)
        self.hydra_context, self.config = hydra_context, config
        self.prepared = PreparedSignal(hydra_context.config_loader)
        launcher_context = HydraContext(config_loader=self.prepared, callbacks=hydra_context.callbacks)
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=launcher_context, task_function=task_function, config=config)

    # -- the sweep ---------------------------------------------------------------------------------
    def sweep(self, arguments: list[str]) -> list[Sequence[JobReturn]]:
        """Run the sweep; bad input and too many failures end it with one clear line and a non-zero exit."""
        try:
            self.current = Sweep(self, *self.plan(arguments))
            return self.current.run()
        except SweepFinished as e:
            log.info("%s", e)
            return []
        except KeyboardInterrupt as e:
            parent = self.current.parent.run_id if self.current else "<its parent run id>"
            log.error("Interrupted (%s): the sweep is marked KILLED; resume it with hydra.sweeper.resume=%s",
                      str(e) or "Ctrl-C", parent)
            self._exit(130)
        except (ValueError, RuntimeError, HydraException) as e:
            if os.environ.get("HYDRA_FULL_ERROR") == "1" or not isinstance(e, USER_ERRORS):
                raise
            log.error("%s", e)
            self._exit(1 if isinstance(e, (SweepFailed, StoreLost)) else 2)
        raise AssertionError("unreachable")

    def _exit(self, code: int) -> None:
        """Exit with ``code``; after workers were killed, at once: the torn-down pool's clean-up at exit (loky's
        resource tracker) would only print tracebacks after the sweep's last line."""
        if self.current is None or not self.current.stopped_workers:
            sys.exit(code)
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)

    def plan(self, arguments: list[str]) -> tuple[SweepPlan, Any]:
        """The checked plan of the command line and its optimizer (``_planning``)."""
        assert self.config is not None and self.hydra_context is not None
        return checked_plan(self.conf, self.config, self.hydra_context, arguments)

    def launch_job(self, job: tuple[list[list[str]], int]) -> Sequence[JobReturn]:
        overrides, first = job
        return self.launcher.launch(overrides, initial_job_idx=first)


class Sweep:
    """One sweep: its plan and optimizer, its parent run and progress, the launches in flight and the trials
    that run again (after a resume, or a worker that died under them)."""

    def __init__(self, impl: SweeperImpl, plan: SweepPlan, optimizer: Any) -> None:
        assert impl.config is not None
        self.optimizer, self.plan = optimizer, plan
        self.dir = Path(impl.config.hydra.sweep.dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "multirun.yaml").write_text(redact(OmegaConf.to_yaml(impl.config)))
        os.environ[lease.LEASE_ENV] = lease.own()  # workers stop when this process is gone
        self.parent, self.progress, self.reruns = open_parent(self.plan, self.optimizer)
        self.conditional = ConditionalParams(impl.hydra_context, impl.config, self.plan)
        self.launcher = impl.launcher
        self.launch_lines = LaunchLines(())  # the console's names for the launchers' lines (``run``)
        in_flight = slots(impl.launcher, self.plan.n_jobs, self.plan.batch_size)
        self.launches = Launches(impl.launch_job, in_flight, impl.prepared)
        self.model = BestModel(self.plan)
        self.watch = StoreWatch(self.plan.uri, self.parent.run_id)
        self.report = ReportSchedule(self.plan.report, self.plan.report_every, self.plan.ui_url)
        self.launched: dict[int, Launch] = {}   # in flight, by their first trial's number
        self.trial_runs: dict[int, str] = {}    # trial number -> its run, created at launch
        self.aborts: dict[int, int] = {}        # trial number -> how often its worker died under it (or its original)
        self.returns: list[Sequence[JobReturn]] = []
        self.interrupts = Interrupts()
        self.stopped_workers = False
        self.warned_no_value = False
        self.tags = TrialTags(plan, self.parent.tracker.client) if plan.multi or plan.constraints else None
        if self.tags is not None:  # a resumed sweep's front is tagged already
            self.tags.on = {r.number: r.run_id for r in front(plan, self.progress.records)}

    def run(self) -> list[Sequence[JobReturn]]:
        """Keep every slot busy until ``n_trials`` have ended, then wrap the sweep up (``_wrapup.finish``)."""
        plan = self.plan
        log.info("Sweep %s (parent run %s): %d trials, %s, %s", plan.name, self.parent.run_id, plan.n_trials,
                 plan.strategy, plan.goal)
        state, store_up = TrialState.FAILED, True
        try:
            with self.interrupts, launch_lines(plan.space.names, self.launcher) as self.launch_lines:
                self._loop()
            state = TrialState.COMPLETE
            release_idle_workers()  # they wind down while the sweep is wrapped up, not after its last line
        except KeyboardInterrupt:
            state = TrialState.INTERRUPTED
            raise
        except StoreLost:
            store_up = False
            raise
        finally:
            # the runs of trials in flight are ended before their workers are stopped (a worker that cannot be
            # stopped from here, a Ray task on the cluster, leaves them so: ``Tracker.finish(unless_ended=True)``)
            # and after (a run a trial created meanwhile)
            store_up = store_up and self._end_in_flight()
            if len(self.launches):
                self.stopped_workers = bool(stop_workers(self.launches)) or self.launches.threaded
                store_up = store_up and self._end_in_flight()
            try:
                lost = finish(self, state, store_up)
            finally:
                self.model.close()
        if lost:
            raise SweepFailed(lost)
        return self.returns

    def _loop(self) -> None:
        while True:
            try:
                self._fill()
                if not len(self.launches):
                    return
                ended = self.launches.wait(timeout=self.watch.every)
                if ended is None:
                    self.watch.check()
                    continue
                records = self._records(self.launched.pop(ended.key), ended)
                for record in records:
                    self._tell(record)
            except (StoreLost, SweepFailed):
                raise
            except Exception as e:  # the store went away (StoreLost), or a real bug: re-raised as it is
                self.watch.lost(e)
                raise
            check_repeating(self.plan.space.names, records)
            check_failures(self.plan, self.progress.count(TrialState.FAILED), self.progress.ended)
            self.report.maybe(self.plan.uri, self.parent.run_id, self.dir)

    def _fill(self) -> None:
        """Launch trials into every free slot, within the budget; asked together so bayes proposes a batch."""
        plan, launches, progress = self.plan, self.launches, self.progress
        size = plan.batch(plan.n_trials) if plan.batch_size or not launches.threaded else 1
        in_flight = sum(len(L.numbers) for L in self.launched.values())
        n = min(launches.free() * size, plan.n_trials - progress.ended - in_flight)
        if n <= 0:
            return
        again, self.reruns = self.reruns[:n], self.reruns[n:]
        for r in again:
            if r.state != TrialState.ABORTED:  # an aborted trial of this session is still pending in the optimizer
                self.optimizer.add_pending(r.params)
        batch = [r.params for r in again]
        if len(batch) < n:
            batch += self.optimizer.ask(n - len(batch))
        if not batch:
            if not len(launches):
                log.info("The search space is exhausted after %d trials", progress.ended)
            return
        numbers = list(range(progress.next_number, progress.next_number + len(batch)))
        progress.next_number += len(batch)
        for r, k in zip(again, numbers):
            self.aborts[k] = self.aborts.get(r.number, 0)
        # recorded before launch (what a resumed sweep re-runs): each trial's run with its searched values, the
        # runs of trials run again told their new number, the buffered history of trials that ended sent
        if self.plan.creates_trial_runs:
            self.trial_runs.update(self._create_trial_runs(numbers, batch))
        else:
            self.parent.tracker.flush(names.parent_launched_tags(numbers, batch))
        self._tell_reruns([(r, k) for r, k in zip(again, numbers)])
        if progress.ended + in_flight + len(batch) >= plan.n_trials:
            self.model.prepare()  # the last trials: the registry's process imports meanwhile
        self._start(numbers, batch, size)

    def _create_trial_runs(self, numbers: list[int], batch: list[dict[str, Any]]) -> dict[int, str]:
        """The runs of the trials about to launch; a tracking server restarted meanwhile is waited for (up to the
        watch's patience, then ``StoreLost``) and the runs it did not make are made."""
        extra = lineage(self.optimizer, self.progress.records, self.plan.space.names, numbers, batch)
        try:
            return self.parent.create_trials(numbers, batch, extra=extra)
        except Exception as e:
            if not self.watch.remote:
                raise
            self.watch.lost(e)
            return self.parent.create_trials(numbers, batch, again=True, extra=extra)

    def _tell_reruns(self, pairs: list[tuple[TrialRecord, int]]) -> None:
        """Tag the run of each trial run again with its new number (a sweep recorded before trials' runs were
        created at launch has none for an interrupted trial: its parent is tagged, as it was then)."""
        client, on_parent = self.parent.tracker.client, []
        for r, k in pairs:
            old = r.run_id or self.trial_runs.get(r.number)
            if old:
                client.set_tag(old, names.RERUN_AS_TAG, str(k))
            else:
                on_parent.append((r.number, k))
        self.parent.tracker.flush(names.rerun_tags(on_parent))

    def _start(self, numbers: list[int], batch: list[dict[str, Any]], size: int) -> None:
        parent, runs_of = self.parent.run_id, self.trial_runs
        overrides = [self.plan.trial_overrides(self.conditional.active(p), k, parent, runs_of.get(k))
                     for p, k in zip(batch, numbers)]
        for i in range(0, len(batch), size):
            launch = Launch(numbers[i:i + size], batch[i:i + size], overrides[i:i + size])
            for number, trial_overrides in zip(launch.numbers, launch.overrides):
                self.launch_lines.expect(number, trial_overrides)
            self.launched[launch.numbers[0]] = launch
            self.launches.start(launch.numbers[0], (launch.overrides, launch.numbers[0]))
            self.interrupts.rearm()  # the launcher has prepared it: a handler it installed is replaced

    def _records(self, launch: Launch, ended: Ended) -> list[TrialRecord]:
        """What a launch that ended says about each of its trials; a dead worker's trials are run again once."""
        plan = self.plan
        if ended.error is None:
            assert ended.results is not None
            self.returns.append(ended.results)
            reading = Reading(plan.objective, plan.goals if plan.multi else None, plan.limits)
            records = [outcome(ret, p, k, launch.started, reading)
                       for p, k, ret in zip(launch.params, launch.numbers, ended.results)]
            if plan.n_trials > KEEP_JOB_CONFIGS:  # ~80 KB of Hydra config per job: 80 MB at 1,000 trials
                for ret in ended.results:
                    ret.hydra_cfg = None
        else:
            records = self._aborted(launch, ended.error)
        records = [r for r in records if r.state != TrialState.ABORTED]
        if not plan.records_itself:
            record_runs(self.parent, records, launch, plan.objective_key, self.trial_runs)
        else:  # a trial that failed before it took its run (its worker died, it could not start): the sweeper ends it
            end_unclaimed(self.parent, [r for r in records if r.state == TrialState.FAILED and not r.run_id],
                          self.trial_runs)
        return records

    def _aborted(self, launch: Launch, error: BaseException) -> list[TrialRecord]:
        """A launch that raised because its worker died (the pool broke): each trial runs again once, then fails.
        Any other error of the launcher would repeat for every trial: the sweep stops with it."""
        if not worker_died(error):
            raise SweepFailed(f"the launcher failed to run trials {launch.numbers}: {type(error).__name__}: "
                              f"{str(error).splitlines()[0] if str(error) else ''}") from error
        text = f"its worker died ({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})"
        records, again = [], []
        for k, params in zip(launch.numbers, launch.params):
            self.aborts[k] = self.aborts.get(k, 0) + 1
            if self.aborts[k] >= 2:
                records.append(TrialRecord(k, dict(params), TrialState.FAILED, error=f"{text}, twice"))
            else:
                again.append(TrialRecord(k, dict(params), TrialState.ABORTED))
                records.append(again[-1])
        self.reruns = again + self.reruns
        log.warning("trial(s) %s: %s; %s", launch.numbers, text,
                    "run again once" if again else "failed: their worker died twice")
        self._end_runs([r.number for r in again], TrialState.INTERRUPTED, text + "; run again")
        self._end_runs([r.number for r in records if r.state == TrialState.FAILED], TrialState.FAILED,
                       text + ", twice")
        return records

    def _end_runs(self, numbers: list[int], state: TrialState, error: str) -> None:
        """End the child runs of ``numbers`` that are still RUNNING (their process is gone) in ``state``."""
        if not numbers or not self.plan.records_itself:
            return
        client = self.parent.tracker.client
        for run in running_trial_runs(client, self.parent.experiment_id, self.parent.run_id, numbers):
            client.set_tag(run.info.run_id, names.ERROR_TAG, error)
            client.set_terminated(run.info.run_id, state.run_status)

    def _end_in_flight(self) -> bool:
        """Mark the runs of trials still in flight KILLED; False when the store cannot be written (it went away
        without a ``StoreLost`` yet): the sweep then ends without touching it, as after ``StoreLost``."""
        try:
            self._end_runs([k for L in self.launched.values() for k in L.numbers], TrialState.INTERRUPTED,
                           "the sweep stopped while this trial ran")
            self.parent.tracker.client.get_run(self.parent.run_id)
        except Exception as e:  # noqa: BLE001 - the sweep is ending anyway; its error is what the user sees
            log.warning("Could not record the sweep's end in %s (%s: %s)", redact(self.plan.uri), type(e).__name__,
                        redact(str(e).splitlines()[0] if str(e) else ""))
            return False
        return True

    def _tell(self, record: TrialRecord) -> None:
        plan, progress = self.plan, self.progress
        self.optimizer.tell(record.params, record.values if plan.multi else record.value, state=str(record.state),
                            constraints=record.constraints)
        progress.records.append(record)
        best = best_of(plan, progress.records)
        self.parent.log_trial(record, best and selected_value(plan, best), progress.counts(),
                              current_hypervolume(plan, progress.records))
        if self.tags is not None:
            self.tags.update(progress.records, self.trial_runs, record)
        if record.state == TrialState.COMPLETE and record.value is None and plan.strategy in ADAPTIVE and \
                plan.space.dim and not self.warned_no_value:
            log.warning("%s returned no value: the %s strategy has nothing to learn from, so the sweep goes on "
                        "as a space-filling search (return a number, or set hydra.sweeper.objective to a key of "
                        "the mapping the task returns)", names.trial_run_name(record.number), plan.strategy)
            self.warned_no_value = True
        elapsed = time.strftime("%H:%M:%S", time.gmtime(time.monotonic() - progress.started))
        shown = None if best is None else selected_value(plan, best)
        on_front = f" | front {len(self.tags.on)}" if plan.multi and self.tags is not None else ""
        log.info("%s: %s | %d of %d ended | best %s%s | elapsed %s", names.trial_run_name(record.number),
                 result_text(record), progress.ended, plan.n_trials,
                 "-" if shown is None else f"{shown:.6g} ({names.trial_run_name(best.number)})", on_front, elapsed)
