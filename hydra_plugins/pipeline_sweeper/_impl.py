"""The sweep: parse -> ask -> launch -> tell -> record, in batches (``SweepPlan.batch``) through Hydra's launcher."""

from __future__ import annotations

import logging
import os
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.plugins import Plugins
from hydra.core.utils import JobReturn
from hydra.errors import HydraException
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from hydra_plugins.pipeline_sweeper._checks import Checker, check_trials
from hydra_plugins.pipeline_sweeper._compose import ComposeCache
from hydra_plugins.pipeline_sweeper._health import StoreLost, StoreWatch
from hydra_plugins.pipeline_sweeper._launches import (
    Ended,
    Launches,
    PreparedSignal,
    release_idle_workers,
    sigterm_as_interrupt,
    stop_workers,
    worker_died,
)
from hydra_plugins.pipeline_sweeper._plan import (
    ADAPTIVE,
    ConditionalParams,
    SweepPlan,
    build_plan,
    make_sweep_optimizer,
    parse_arguments,
)
from hydra_plugins.pipeline_sweeper._trials import outcome, record_runs, result_text
from hydra_plugins.pipeline_sweeper._wrapup import BestModel, ReportSchedule, finish
from pipeline.errors import ConfigError, DataError
from pipeline.tracking import lease
from pipeline.tracking import names as rr
from pipeline.tracking.sweep_run import SweepRun, TrialRecord, best_record, load_state, running_trial_runs
from pipeline.tracking.tracker import redact

log = logging.getLogger(__name__)


KEEP_JOB_CONFIGS = 100  # larger sweeps keep each job's return value and status, not Hydra's config of it


class SweepFailed(RuntimeError):
    """Too many trials failed: the sweep stops and its parent run is marked FAILED."""


@dataclass
class SweepProgress:
    """Trials of this sweep (told from a resumed parent too) and when this session started."""

    records: list[TrialRecord] = field(default_factory=list)
    next_number: int = 0
    started: float = field(default_factory=time.monotonic)

    def count(self, state: str) -> int:
        return sum(r.state == state for r in self.records)

    def counts(self) -> dict[str, int]:
        return {s: self.count(s) for s in rr.ENDED}

    @property
    def ended(self) -> int:
        return sum(r.state in rr.ENDED for r in self.records)


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
        self.conf = OmegaConf.to_container(OmegaConf.create(conf), resolve=True) if conf else {}
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None
        self.launcher: Any = None
        self.prepared: PreparedSignal | None = None
        self._warned_no_value = False
        self._aborts: dict[int, int] = {}   # trial number -> how often its worker died under it (or its original)
        self._launched: dict[int, Launch] = {}
        self._stopped_workers = False
        self._parent_id: str | None = None

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
            return self._sweep(arguments)
        except KeyboardInterrupt as e:
            log.error("Interrupted (%s): the sweep is marked KILLED; resume it with hydra.sweeper.resume=%s",
                      e or "Ctrl-C", self._parent_id or "<its parent run id>")
            self._exit(130)
        except (ValueError, RuntimeError, HydraException) as e:
            if os.environ.get("HYDRA_FULL_ERROR") == "1" or not _is_user_error(e):
                raise
            log.error("%s", e)
            self._exit(1 if isinstance(e, (SweepFailed, StoreLost)) else 2)
        raise AssertionError("unreachable")

    def _exit(self, code: int) -> None:
        """Exit with ``code``; after workers were killed, at once: the torn-down pool's clean-up at exit (loky's
        resource tracker) would only print tracebacks after the sweep's last line."""
        if not self._stopped_workers:
            sys.exit(code)
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)

    def _sweep(self, arguments: list[str]) -> list[Sequence[JobReturn]]:
        assert self.config is not None and self.hydra_context is not None
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        cli_space, cli_fixed = parse_arguments(parser.parse_overrides(arguments))
        script = Path(sys.argv[0]).name
        command = shlex.join(["python", script, *sys.argv[1:]])
        checker = Checker.start(self.conf)
        try:
            plan = build_plan(self.conf, self.config, cli_space, cli_fixed, command, script)
            check_trials(checker, self.hydra_context, self.config, plan)
        finally:
            if checker is not None:
                checker.close()
        optimizer = make_sweep_optimizer(plan)
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        (sweep_dir / "multirun.yaml").write_text(redact(OmegaConf.to_yaml(self.config)))
        os.environ[lease.LEASE_ENV] = lease.own()  # workers stop when this process is gone
        parent, progress, reruns = self._open(plan, optimizer)
        self._parent_id = parent.run_id
        log.info("Sweep %s (parent run %s): %d trials, %s", plan.name, parent.run_id, plan.n_trials, plan.strategy)
        launches = Launches(self._launch_job, self._slots(plan), self.prepared)
        self._model = BestModel(self.conf, plan)
        returns: list[Sequence[JobReturn]] = []
        status, store_up = "FAILED", True
        try:
            with sigterm_as_interrupt():
                self._loop(plan, optimizer, parent, progress, reruns, returns, launches, sweep_dir)
            status = "FINISHED"
            release_idle_workers()  # they wind down while the sweep is wrapped up, not after its last line
        except KeyboardInterrupt:
            status = "KILLED"
            raise
        except StoreLost:
            store_up = False
            raise
        finally:
            if len(launches):
                self._stopped_workers = bool(stop_workers(launches)) or launches.threaded
            store_up = store_up and self._end_in_flight(plan, parent)
            try:
                lost = finish(self.conf, plan, parent, progress.records, progress.counts(), sweep_dir, status,
                              self._model, store_up)
            finally:
                self._model.close()
        if lost:
            raise SweepFailed(lost)
        return returns

    def _end_in_flight(self, plan: SweepPlan, parent: SweepRun) -> bool:
        """Mark the runs of trials still in flight KILLED; False when the store cannot be written (it went away
        without a ``StoreLost`` yet): the sweep then ends without touching it, as after ``StoreLost``."""
        try:
            self._end_runs(plan, parent, [k for L in self._launched.values() for k in L.numbers], "KILLED",
                           "the sweep stopped while this trial ran")
            parent.tracker.client.get_run(parent.run_id)
        except Exception as e:  # noqa: BLE001 - the sweep is ending anyway; its error is what the user sees
            log.warning("Could not record the sweep's end in %s (%s)", redact(plan.uri), type(e).__name__)
            return False
        return True

    def _slots(self, plan: SweepPlan) -> int:
        """Launches in flight: ``n_jobs`` trials one by one, or one launch of ``batch_size`` at a time; one
        for a launcher that runs the task in this process (Hydra's basic launcher)."""
        if type(self.launcher).__name__ == "BasicLauncher":
            if plan.n_jobs > 1:
                log.warning("hydra.sweeper.n_jobs=%d but Hydra's basic launcher runs one trial at a time in this "
                            "process; use a parallel launcher (hydra/launcher=joblib)", plan.n_jobs)
            return 1
        return 1 if plan.batch_size else plan.n_jobs

    def _launch_job(self, job: tuple[list[list[str]], int]) -> Sequence[JobReturn]:
        overrides, first = job
        return self.launcher.launch(overrides, initial_job_idx=first)

    def _open(self, plan: SweepPlan, optimizer: Any) -> tuple[SweepRun, SweepProgress, list[TrialRecord]]:
        """Create the parent run, or reopen it and tell the optimizer what it already holds."""
        progress = SweepProgress()
        if not plan.resume:
            parent = SweepRun.create(plan.uri, plan.experiment, plan.name, {**plan.tags(), rr.LEASE_TAG: lease.own()},
                                     plan.params())
            return parent, progress, []
        state = load_state(plan.uri, plan.resume)
        for r in state.ended:
            optimizer.tell(r.params, r.value, state=r.state)
        progress.records, progress.next_number = list(state.ended), state.next_number
        log.info("Resuming sweep %s: %d trials ended, %d interrupted to run again, next job %d", plan.resume,
                 len(state.ended), len(state.interrupted), state.next_number)
        return SweepRun.reopen(plan.uri, plan.resume, lease.own()), progress, list(state.interrupted)

    def _loop(self, plan: SweepPlan, optimizer: Any, parent: SweepRun, progress: SweepProgress,
              reruns: list[TrialRecord], returns: list[Sequence[JobReturn]], launches: Launches,
              sweep_dir: Path) -> None:
        """Keep every slot busy until ``n_trials`` have ended: a slot that frees takes the next trial at once."""
        conditional = ConditionalParams(self.hydra_context, self.config, plan)
        watch, report = StoreWatch(plan.uri, parent.run_id), ReportSchedule(bool(self.conf.get("report", True)),
                                                                            plan.report_every)
        while True:
            try:
                self._fill(plan, optimizer, parent, progress, reruns, launches, conditional)
                if not len(launches):
                    return
                ended = launches.wait(timeout=watch.every)
                if ended is None:
                    watch.check()
                    continue
                launch = self._launched.pop(ended.key)
                records = self._records(plan, parent, launch, ended, reruns, returns)
                for record in records:
                    self._tell(plan, optimizer, parent, progress, record)
            except (StoreLost, SweepFailed):
                raise
            except Exception as e:  # the store went away (StoreLost), or a real bug: re-raised as it is
                watch.lost(e)
                raise
            _check_repeating(plan, records)
            _check_failures(plan, progress)
            report.maybe(plan.uri, parent.run_id, sweep_dir)

    def _fill(self, plan: SweepPlan, optimizer: Any, parent: SweepRun, progress: SweepProgress,
              reruns: list[TrialRecord], launches: Launches, conditional: ConditionalParams) -> None:
        """Launch trials into every free slot, within the budget; asked together so bayes proposes a batch."""
        size = plan.batch(plan.n_trials) if plan.batch_size or not launches.threaded else 1
        in_flight = sum(len(L.numbers) for L in self._launched.values())
        n = min(launches.free() * size, plan.n_trials - progress.ended - in_flight)
        if n <= 0:
            return
        again, reruns[:] = reruns[:n], reruns[n:]
        for r in again:
            if r.state != "aborted":  # an aborted trial of this session is still pending in the optimizer
                optimizer.add_pending(r.params)
        batch = [r.params for r in again]
        if len(batch) < n:
            batch += optimizer.ask(n - len(batch))
        if not batch:
            if not len(launches):
                log.info("The search space is exhausted after %d trials", progress.ended)
            return
        numbers = list(range(progress.next_number, progress.next_number + len(batch)))
        progress.next_number += len(batch)
        for r, k in zip(again, numbers):
            self._aborts[k] = self._aborts.get(r.number, 0)
        # recorded before launch (what a resumed sweep re-runs), with the buffered history of trials that ended
        parent.tracker.flush({**rr.launched_tags(numbers, batch),
                              **rr.rerun_tags((r.number, k) for r, k in zip(again, numbers))})
        overrides = [plan.trial_overrides(conditional.active(p), k, parent.run_id) for p, k in zip(batch, numbers)]
        if progress.ended + in_flight + len(batch) >= plan.n_trials:
            self._model.prepare()  # the last trials: the registry's process imports meanwhile
        for i in range(0, len(batch), size):
            launch = Launch(numbers[i:i + size], batch[i:i + size], overrides[i:i + size])
            self._launched[launch.numbers[0]] = launch
            launches.start(launch.numbers[0], (launch.overrides, launch.numbers[0]))

    def _records(self, plan: SweepPlan, parent: SweepRun, launch: Launch, ended: Ended,
                 reruns: list[TrialRecord], returns: list[Sequence[JobReturn]]) -> list[TrialRecord]:
        """What a launch that ended says about each of its trials; a dead worker's trials are run again once."""
        if ended.error is None:
            assert ended.results is not None
            returns.append(ended.results)
            records = [outcome(ret, p, k, launch.started, plan.objective)
                       for p, k, ret in zip(launch.params, launch.numbers, ended.results)]
            if plan.n_trials > KEEP_JOB_CONFIGS:  # ~80 KB of Hydra config per job: 80 MB at 1,000 trials
                for ret in ended.results:
                    ret.hydra_cfg = None
        else:
            records = self._aborted(plan, parent, launch, ended.error, reruns)
        if not plan.records_itself:
            record_runs(parent.tracker.client, parent.experiment_id, parent.run_id,
                        [r for r in records if r.state != "aborted"], launch.overrides, plan.objective_key,
                        launch.started_ms)
        return [r for r in records if r.state != "aborted"]

    def _aborted(self, plan: SweepPlan, parent: SweepRun, launch: Launch, error: BaseException,
                 reruns: list[TrialRecord]) -> list[TrialRecord]:
        """A launch that raised because its worker died (the pool broke): each trial runs again once, then fails.
        Any other error of the launcher would repeat for every trial: the sweep stops with it."""
        if not worker_died(error):
            raise SweepFailed(f"the launcher failed to run trials {launch.numbers}: {type(error).__name__}: "
                              f"{str(error).splitlines()[0] if str(error) else ''}") from error
        text = f"its worker died ({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})"
        records, again = [], []
        for k, params in zip(launch.numbers, launch.params):
            self._aborts[k] = self._aborts.get(k, 0) + 1
            if self._aborts[k] >= 2:
                records.append(TrialRecord(k, dict(params), "failed", error=f"{text}, twice", seconds=0.0))
            else:
                again.append(TrialRecord(k, dict(params), "aborted"))
                records.append(again[-1])
        reruns[:0] = again
        log.warning("trial(s) %s: %s; %s", launch.numbers, text,
                    "run again once" if again else "failed: their worker died twice")
        self._end_runs(plan, parent, [r.number for r in again], "KILLED", text + "; run again")
        self._end_runs(plan, parent, [r.number for r in records if r.state == "failed"], "FAILED", text + ", twice")
        return records

    def _end_runs(self, plan: SweepPlan, parent: SweepRun, numbers: list[int], status: str, error: str) -> None:
        """End the child runs of ``numbers`` that are still RUNNING (their process is gone) with ``status``."""
        if not numbers or not plan.records_itself:
            return
        for run in running_trial_runs(parent.tracker.client, parent.experiment_id, parent.run_id, numbers):
            parent.tracker.client.set_tag(run.info.run_id, rr.ERROR_TAG, error)
            parent.tracker.client.set_terminated(run.info.run_id, status)

    def _tell(self, plan: SweepPlan, optimizer: Any, parent: SweepRun, progress: SweepProgress,
              record: TrialRecord) -> None:
        optimizer.tell(record.params, record.value, state=record.state)
        progress.records.append(record)
        best = best_record(progress.records, plan.direction)
        parent.log_trial(record, best and best.value, progress.counts())
        if record.state == "complete" and record.value is None and plan.strategy in ADAPTIVE and plan.space.dim:
            self._warn_no_value(record.number)
        elapsed = time.strftime("%H:%M:%S", time.gmtime(time.monotonic() - progress.started))
        log.info("trial %d/%d (job %d): %s | best %s | elapsed %s", progress.ended, plan.n_trials, record.number,
                 result_text(record), "-" if best is None else f"{best.value:.6g} (job {best.number})", elapsed)

    def _warn_no_value(self, number: int) -> None:
        if not self._warned_no_value:
            log.warning("trial %d returned no value: the Bayesian optimizer has nothing to learn from, so the sweep "
                        "goes on as a space-filling search (return a number, or set hydra.sweeper.objective to "
                        "a key of the mapping the task returns)", number)
            self._warned_no_value = True


def _is_user_error(e: BaseException) -> bool:
    """Errors whose message says it all: bad sweep input, an unreachable store, too many failed trials."""
    from pipeline.errors import TrackingError

    return isinstance(e, (ValueError, TrackingError, SweepFailed, StoreLost, HydraException))


def _check_repeating(plan: SweepPlan, records: Sequence[TrialRecord]) -> None:
    """A failure every trial would repeat (its data cannot load, a fixed setting is invalid) stops the sweep at
    its first occurrence: an error of the trial's data or config that names no parameter being searched."""
    for r in records:
        if r.state == "failed" and r.error_type in (DataError.__name__, ConfigError.__name__) and \
                not any(name.lstrip("+") in r.error for name in plan.space.names):
            raise SweepFailed(f"trial {r.number} failed with an error every trial would repeat, so the sweep "
                              f"stops: {r.error}")


def _check_failures(plan: SweepPlan, progress: SweepProgress) -> None:
    failed = progress.count("failed")
    if failed > plan.max_failure_rate * plan.n_trials:
        raise SweepFailed(
            f"{failed} of {progress.ended} trials failed, more than max_failure_rate={plan.max_failure_rate} of "
            f"n_trials={plan.n_trials}; stopping the sweep. The errors are in the trials' MLflow runs and the "
            f"log above; raise hydra.sweeper.max_failure_rate to tolerate more failures.")
