"""The sweep: parse -> ask -> launch -> tell -> record, in batches (``SweepPlan.batch``) through Hydra's launcher."""

from __future__ import annotations

import logging
import os
import shlex
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.plugins import Plugins
from hydra.core.utils import JobReturn
from hydra.errors import HydraException
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from hydra_plugins.pipeline_sweeper._plan import (
    ADAPTIVE,
    ConditionalParams,
    SweepPlan,
    build_plan,
    parse_arguments,
)
from hydra_plugins.pipeline_sweeper._trials import missing_runs, outcome, record_runs
from pipeline import run_record as rr
from pipeline.search import make_optimizer
from pipeline.sweep_tracking import SweepRun, TrialRecord, best_record, child_runs, load_state
from pipeline.tracking import redact

log = logging.getLogger(__name__)


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


class SweeperImpl:
    def __init__(self, conf: dict[str, Any]) -> None:
        self.conf = OmegaConf.to_container(OmegaConf.create(conf), resolve=True) if conf else {}
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None
        self.launcher: Any = None
        self._warned_no_value = False

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.hydra_context, self.config = hydra_context, config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config)

    # -- the sweep ---------------------------------------------------------------------------------
    def sweep(self, arguments: list[str]) -> list[Sequence[JobReturn]]:
        """Run the sweep; bad input and too many failures end it with one clear line and a non-zero exit."""
        try:
            return self._sweep(arguments)
        except (ValueError, RuntimeError, HydraException) as e:
            if os.environ.get("HYDRA_FULL_ERROR") == "1" or not _is_user_error(e):
                raise
            log.error("%s", e)
            sys.exit(2 if not isinstance(e, SweepFailed) else 1)

    def _sweep(self, arguments: list[str]) -> list[Sequence[JobReturn]]:
        assert self.config is not None and self.hydra_context is not None
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        cli_space, cli_fixed = parse_arguments(parser.parse_overrides(arguments))
        script = Path(sys.argv[0]).name
        command = shlex.join(["python", script, *sys.argv[1:]])
        plan = build_plan(self.conf, self.config, cli_space, cli_fixed, command, script)
        optimizer = make_sweep_optimizer(plan)
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        (sweep_dir / "multirun.yaml").write_text(redact(OmegaConf.to_yaml(self.config)))
        parent, progress, reruns = self._open(plan, optimizer)
        returns: list[Sequence[JobReturn]] = []
        status = "FAILED"
        try:
            with _sigterm_as_interrupt():
                self._loop(plan, optimizer, parent, progress, reruns, returns)
            status = "FINISHED"
        except KeyboardInterrupt:
            status = "KILLED"
            raise
        finally:
            lost = self._finish(plan, parent, progress, sweep_dir, status)
        if lost:
            raise SweepFailed(lost)
        return returns

    def _open(self, plan: SweepPlan, optimizer: Any) -> tuple[SweepRun, SweepProgress, list[TrialRecord]]:
        """Create the parent run, or reopen it and tell the optimizer what it already holds."""
        progress = SweepProgress()
        if not plan.resume:
            return SweepRun.create(plan.uri, plan.experiment, plan.name, plan.tags(), plan.params()), progress, []
        state = load_state(plan.uri, plan.resume)
        for r in state.ended:
            optimizer.tell(r.params, r.value, state=r.state)
        progress.records, progress.next_number = list(state.ended), state.next_number
        log.info("Resuming sweep %s: %d trials ended, %d interrupted to run again, next job %d", plan.resume,
                 len(state.ended), len(state.interrupted), state.next_number)
        return SweepRun.reopen(plan.uri, plan.resume), progress, list(state.interrupted)

    def _loop(self, plan: SweepPlan, optimizer: Any, parent: SweepRun, progress: SweepProgress,
              reruns: list[TrialRecord], returns: list[Sequence[JobReturn]]) -> None:
        conditional = ConditionalParams(self.hydra_context, self.config, plan)
        while progress.ended < plan.n_trials:
            n = plan.batch(plan.n_trials - progress.ended)
            again, reruns[:] = reruns[:n], reruns[n:]
            batch = [r.params for r in again]
            for params in batch:
                optimizer.add_pending(params)
            if len(batch) < n:
                batch += optimizer.ask(n - len(batch))
            if not batch:
                log.info("The search space is exhausted after %d trials", progress.ended)
                return
            numbers = list(range(progress.next_number, progress.next_number + len(batch)))
            progress.next_number += len(batch)
            # recorded before launch: what a resumed sweep re-runs
            parent.tracker.set_tags({**rr.launched_tags(numbers, batch),
                                     **rr.rerun_tags((r.number, k) for r, k in zip(again, numbers))})
            overrides = [plan.trial_overrides(conditional.active(p), k, parent.run_id) for p, k in zip(batch, numbers)]
            started, started_ms = time.monotonic(), int(time.time() * 1000)
            results = self.launcher.launch(overrides, initial_job_idx=numbers[0])
            returns.append(results)
            records = [outcome(ret, p, k, started, plan.objective) for p, k, ret in zip(batch, numbers, results)]
            if not plan.records_itself:
                record_runs(parent.tracker.client, parent.experiment_id, parent.run_id, records, overrides,
                            plan.objective_key, started_ms)
            for record in records:
                self._tell(plan, optimizer, parent, progress, record)
            _check_failures(plan, progress)

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
                 _result_text(record), "-" if best is None else f"{best.value:.6g} (job {best.number})", elapsed)

    def _warn_no_value(self, number: int) -> None:
        if not self._warned_no_value:
            log.warning("trial %d returned no value: the Bayesian optimizer has nothing to learn from, so the sweep "
                        "goes on as a space-filling search (return a number, or set hydra.sweeper.objective to "
                        "a key of the mapping the task returns)", number)
            self._warned_no_value = True

    def _finish(self, plan: SweepPlan, parent: SweepRun, progress: SweepProgress, sweep_dir: Path,
                status: str) -> str | None:
        """Write ``optimization_results.yaml`` and end the parent run with ``status``; FAILED, with the reason
        returned, when trials ran but their runs are not in the sweep's store."""
        found = {rr.trial_number(r): r.info.run_id for r in child_runs(plan.uri, parent.run_id)}
        for r in progress.records:
            r.run_id = found.get(r.number, r.run_id)
        lost = _lost_runs_message(plan, parent.run_id, progress.records, found) if status == "FINISHED" else None
        status = "FAILED" if lost else status
        best = best_record(progress.records, plan.direction)
        results = plan.results(best, progress.counts(), parent.run_id, status)
        (sweep_dir / "optimization_results.yaml").write_text(redact(yaml.safe_dump(results, sort_keys=False)))
        if best is not None:
            log.info("Best trial %d: %s = %.6g; re-run it with: %s", best.number, plan.objective_key, best.value,
                     results["best_command"])
        elif progress.count("complete"):
            log.info("No trial returned a value: no best trial")
        parent.finish(progress.records, best, results, status=status)
        if not lost:
            self._insights(plan, parent.run_id, best, sweep_dir)
        return lost

    def _insights(self, plan: SweepPlan, parent_run_id: str, best: TrialRecord | None, sweep_dir: Path) -> None:
        """Log (and register) the best model, and write the report; a failure here never loses the sweep."""
        if best is not None:
            try:
                publish_best_model(plan.uri, parent_run_id, best.run_id, bool(self.conf.get("register_model", True)),
                                   self.conf.get("model_name") or plan.experiment, self.conf.get("model_alias"))
            except Exception as e:  # noqa: BLE001 - reported, the sweep's results are already safe
                log.warning("Could not log or register the best model: %s", e)
        if self.conf.get("report", True):
            try:
                from pipeline.report import generate_report

                generate_report(plan.uri, parent_run_id, out_dir=sweep_dir / "report")
                log.info("Report: %s", sweep_dir / "report" / "report.html")
            except Exception as e:  # noqa: BLE001
                log.warning("Could not write the sweep report: %s", e)


def make_sweep_optimizer(plan: SweepPlan) -> Any:
    """The plan's optimizer. A finite space no larger than the budget is run whole, in the grid's order
    (Hydra's basic sweeper's), whatever the strategy: every point gets evaluated anyway."""
    strategy, options = plan.strategy, plan.optimizer_options()
    if strategy != "grid" and plan.space.dim and plan.space.cardinality() <= plan.n_trials:
        log.info("The space holds %d points, no more than n_trials=%d: every point is run, in grid order",
                 int(plan.space.cardinality()), plan.n_trials)
        strategy, options = "grid", {}
    optimizer = make_optimizer(strategy, plan.space, seed=plan.seed, direction=plan.direction, **options)
    if getattr(optimizer, "n_total", None) is not None:  # a finite grid ends sooner
        plan.n_trials = min(plan.n_trials, optimizer.n_total)
    return optimizer


def _result_text(record: TrialRecord) -> str:
    if record.state == "failed":
        return "failed: " + record.error[:200]
    if record.value is None:
        return "complete, no value"
    return f"pruned at {record.value:.6g}" if record.state == "pruned" else f"{record.value:.6g}"


def _lost_runs_message(plan: SweepPlan, parent_run_id: str, records: Sequence[TrialRecord],
                       found: dict[int, str]) -> str | None:
    missing = missing_runs(records, found)
    if not missing:
        return None
    ran = sum(r.state != "failed" for r in records)
    return (f"{len(missing)} of {ran} trials that ran have no run in the sweep's store {redact(plan.uri)}: it holds "
            f"{len(found)} child runs of sweep {parent_run_id} (missing: trials {missing[:10]}); a worker wrote "
            f"elsewhere although {rr.URI_KEY} was passed to every trial. The sweep is marked FAILED.")


def publish_best_model(uri: str, parent_run_id: str, best_run_id: str, register: bool, name: str,
                       alias: str | None) -> None:
    """Log the best trial's model (and register it) with ``python -m pipeline.registry``, in a process of its own.

    Rebuilding a model needs the trial's model code, which the sweeper never imports: the sweeper and
    the trials meet only in overrides and return values. The store travels in the environment, not
    on the command line. Sweeps whose best trial has no refit checkpoint (a foreign app, ``cv.refit=false``)
    start no process.
    """
    import subprocess

    from pipeline.tracking import get_client

    if rr.REFIT_CHECKPOINT_TAG not in get_client(uri).get_run(best_run_id).data.tags:
        log.info("No model to log: the best trial has no refit checkpoint")
        return
    cmd = [sys.executable, "-m", "pipeline.registry", parent_run_id, "--name", name]
    cmd += (["--alias", alias] if alias else []) + ([] if register else ["--log-only"])
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    level = logging.INFO if done.returncode == 0 else logging.WARNING
    for line in (done.stdout + done.stderr).strip().splitlines()[-3:]:
        log.log(level, "%s", line)
    if done.returncode != 0:
        raise RuntimeError(f"python -m pipeline.registry exited with {done.returncode}")


def _is_user_error(e: BaseException) -> bool:
    """Errors whose message says it all: bad sweep input, an unreachable store, too many failed trials."""
    from pipeline.errors import TrackingError

    return isinstance(e, (ValueError, TrackingError, SweepFailed, HydraException))


def _check_failures(plan: SweepPlan, progress: SweepProgress) -> None:
    failed = progress.count("failed")
    if failed > plan.max_failure_rate * plan.n_trials:
        raise SweepFailed(
            f"{failed} of {progress.ended} trials failed, more than max_failure_rate={plan.max_failure_rate} of "
            f"n_trials={plan.n_trials}; stopping the sweep. The errors are in the trials' MLflow runs and the "
            f"log above; raise hydra.sweeper.max_failure_rate to tolerate more failures.")


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM ends the sweep like Ctrl-C: the parent run is marked KILLED."""
    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)

