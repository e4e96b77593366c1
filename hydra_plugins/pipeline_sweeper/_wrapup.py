"""The end of a sweep: ``optimization_results.yaml``, the parent run's summary and status, the best model,
the report, and where to look. A failure after the trials' results are safe never loses the sweep."""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from hydra_plugins.pipeline_sweeper._plan import SweepPlan
from hydra_plugins.pipeline_sweeper._trials import missing_runs
from pipeline.tracking import names
from pipeline.tracking.names import TrialState
from pipeline.tracking.runs import child_runs, trial_number
from pipeline.tracking.store import redact
from pipeline.tracking.sweep_run import TrialRecord

if TYPE_CHECKING:
    from hydra_plugins.pipeline_sweeper._impl import Sweep

log = logging.getLogger(__name__)
NOT_FINISHED_EXIT = 3  # python -m pipeline.registry: the sweep did not finish, nothing registered (one line)
RELAYED_LINES = 5  # the registry process's last lines the sweep log shows (registration, alias, explanation)
STORE_DOWN = "INTERRUPTED"  # optimization_results.yaml's status when the store went away: the parent stays RUNNING


def finish(sweep: Sweep, state: TrialState, store_up: bool = True) -> str | None:
    """Write ``optimization_results.yaml`` and end the parent run in ``state``; FAILED, with the reason
    returned, when trials ran but their runs are not in the sweep's store. With the store down
    (``store_up=False``) only the file is written: the parent stays RUNNING, for a resume."""
    plan, parent, records = sweep.plan, sweep.parent, sweep.progress.records
    found = trial_runs(sweep, records) if store_up else {}
    lost = lost_runs_message(plan, parent.run_id, records, found) if state == TrialState.COMPLETE else None
    state = TrialState.FAILED if lost else state
    from hydra_plugins.pipeline_sweeper import _front

    best = _front.best(plan, records)
    results = plan.results(best, sweep.progress.counts(), parent.run_id, state.run_status if store_up else STORE_DOWN)
    if plan.multi:
        results.update(_front.results(plan, records))
    (sweep.dir / names.RESULTS_FILE).write_text(redact(yaml.safe_dump(results, sort_keys=False)))
    if plan.multi:
        log.info("Pareto front: %d trials (%s); hypervolume %.6g against %s", len(results["front"]),
                 ", ".join(names.trial_run_name(f["trial"]) for f in results["front"][:8]), results[names.HYPERVOLUME],
                 results["reference_point"])
    if best is not None:
        log.info("Best: %s, %s = %.6g; re-run it with: %s", names.trial_run_name(best.number),
                 f"{plan.selection}" if plan.multi else plan.objective_key, _front.selected_value(plan, best),
                 results["best_command"])
    elif sweep.progress.count(TrialState.COMPLETE):
        log.info("No trial returned a value%s: no best trial", " or met every limit" if plan.constraints else "")
    if not store_up:
        return None
    if plan.multi:
        tags, history = _front.parent_record(plan, records)
        for number, volume in history:
            parent.tracker.log_metrics({names.HYPERVOLUME: volume}, step=number)
        parent.tracker.set_tags(tags)
    parent.finish(records, best, results, state)
    if not lost and state == TrialState.COMPLETE:
        return publish(sweep, best)
    return lost


def trial_runs(sweep: Sweep, records: Sequence[TrialRecord]) -> dict[int, str]:
    """Each trial's run id, as its task returned it (``pipeline.objective.RETURN_RUN_ID``) or the sweeper wrote it;
    the sweep's children are searched only for trials that ran without saying (an app that logs its own runs
    but returns a bare number). A run the sweeper created at launch that is still RUNNING was never taken: its
    trial wrote elsewhere; it is ended FAILED saying so."""
    found = {r.number: r.run_id for r in records if r.run_id}
    if all(r.number in found or r.state == TrialState.FAILED for r in records):
        return found
    parent = sweep.parent
    client, untaken = parent.tracker.client, []
    for run in child_runs(client, parent.experiment_id, parent.run_id):
        if run.info.status == TrialState.RUNNING.run_status:
            untaken.append(run.info.run_id)
        else:
            found.setdefault(trial_number(run), run.info.run_id)
    for run_id in untaken:
        client.set_tag(run_id, names.ERROR_TAG, "its trial ended without writing to this run (it wrote elsewhere)")
        client.set_terminated(run_id, TrialState.FAILED.run_status)
    for r in records:
        r.run_id = found.get(r.number, r.run_id)
    return found


def publish(sweep: Sweep, best: TrialRecord | None) -> str | None:
    """Log (and register) the best model while the report is written; a failure here never loses the sweep (its
    results are safe), but it is returned, and the sweep exits non-zero: a sweep whose best model is not there did
    not give what it promised."""
    plan, model, parent_run_id = sweep.plan, sweep.model, sweep.parent.run_id
    publishing, failed = False, None
    try:
        publishing = best is not None and model.publish(parent_run_id, best.run_id)
    except Exception as e:  # noqa: BLE001 - reported, the sweep's results are already safe
        failed = f"Could not log or register the best model: {e}"
    if plan.report:
        sweep.report.final(plan.uri, parent_run_id, sweep.dir)
    if publishing:
        try:
            model.wait()
        except Exception as e:  # noqa: BLE001
            failed = f"Could not log or register the best model: {e}"
    log.info("Open the MLflow UI on this sweep's store with: %s", ui_command(plan.uri, plan.records_itself))
    log.info("The sweep's runs: %s", runs_page(plan.uri, sweep.parent.experiment_id, plan.ui_url))
    return failed


def ui_command(uri: str, this_project: bool = True) -> str:
    """The command that opens MLflow's UI on ``uri``: a server is already one; a SQLite file is served by this
    project's ``make ui`` (which follows MLFLOW_TRACKING_URI), or by ``mlflow ui`` from any app's folder."""
    if uri.startswith(("http://", "https://")):
        return f"open {redact(uri)} in a browser"
    plain = f"MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false mlflow ui --backend-store-uri {uri} --workers 1"
    return f"MLFLOW_TRACKING_URI={uri} make ui   (or: {plain})" if this_project else plain


def runs_page(uri: str, experiment_id: str, ui_url: str | None = None) -> str:
    """The experiment's runs in MLflow's *Model training* view: a fresh browser opens an experiment in its GenAI
    overview otherwise."""
    from pipeline.results.insights.table import ui_base

    return f"{ui_base(uri, ui_url)}/#/experiments/{experiment_id}/runs?workflowType=machine_learning"


def lost_runs_message(plan: SweepPlan, parent_run_id: str, records: Sequence[TrialRecord],
                      found: dict[int, str]) -> str | None:
    missing = missing_runs(records, found)
    if not missing:
        return None
    ran = sum(r.state != TrialState.FAILED for r in records)
    return (f"{len(missing)} of {ran} trials that ran have no run in the sweep's store {redact(plan.uri)}: it holds "
            f"{len(found)} child runs of sweep {parent_run_id} (missing: trials {missing[:10]}); a worker wrote "
            f"elsewhere although {names.URI_KEY} was passed to every trial. The sweep is marked FAILED.")


class BestModel:
    """Logs (and registers) the best trial's model with ``python -m pipeline.registry``, in a process of its own.

    Rebuilding a model needs the trial's model code, which the sweeper never imports: the sweeper and the trials
    meet only in overrides and return values. The process is started ahead (``prepare``, when the last trial is
    launched) so that it has imported torch and MLflow and opened the store when the sweep ends; it then gets the
    parent run on stdin (``publish``) while the report is drawn here, and ``wait`` relays its lines. The store
    travels in the environment, not on the command line. Apps whose trials log no refit checkpoint (a foreign
    app, ``cv.refit=false``) need no process. Only a sweep that finished publishes: an interrupted one never
    moves an alias.
    """

    def __init__(self, plan: SweepPlan) -> None:
        self.uri, self.enabled, self.register = plan.uri, plan.records_itself, plan.register_model
        self.explain = plan.explain
        self.name, self.alias = plan.model_name or plan.experiment, plan.model_alias
        self.proc: Any = None

    def prepare(self) -> None:
        import subprocess

        if self.proc is not None or not self.enabled:
            return
        cmd = [sys.executable, "-m", "pipeline.results.registry", "--wait", "--name", self.name]
        cmd += (["--alias", self.alias] if self.alias else []) + ([] if self.register else ["--log-only"])
        cmd += ["--explain"] if self.explain else []
        self.proc = subprocess.Popen(cmd, env={**os.environ, "MLFLOW_TRACKING_URI": self.uri}, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def publish(self, parent_run_id: str, best_run_id: str) -> bool:
        """Hand the sweep to the process; False (and nothing to wait for) when the best trial has no model."""
        from pipeline.tracking.store import get_client

        if names.REFIT_CHECKPOINT_TAG not in get_client(self.uri).get_run(best_run_id).data.tags:
            if self.enabled:  # this project's trials (a foreign app logs no model: nothing to say)
                log.info("No model to log: the best trial has no refit checkpoint (cv.refit=false)")
            return False
        self.enabled = True  # a best trial with a checkpoint, from an app the plan did not know as this one
        self.prepare()
        try:
            self.proc.stdin.write(parent_run_id + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass  # it ended before it was told (an import, the store): ``wait`` relays why
        return True

    def wait(self) -> None:
        out, _ = self.proc.communicate()
        code = self.proc.returncode
        level = logging.INFO if code in (0, NOT_FINISHED_EXIT) else logging.WARNING
        for line in out.strip().splitlines()[-RELAYED_LINES:]:
            log.log(level, "%s", line)
        if code not in (0, NOT_FINISHED_EXIT):  # 3: the registry saw an unfinished sweep and said so
            raise RuntimeError(f"python -m pipeline.registry exited with {code}")

    def close(self) -> None:
        """End a process that was not needed (a sweep that did not finish, no best trial)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()
        self.proc = None


class ReportSchedule:
    """The report is rewritten while the sweep runs: first ``every`` seconds after the sweep's start (a short sweep
    has its final report only), then after a batch at most every ``max(every, COST_FACTOR x its last build time)``,
    so that drawing takes at most a tenth of a large sweep's time (and of the cores its trials would use). The
    ended trials' curves are kept across the rebuilds (and for the final report) in ``curves``."""

    COST_FACTOR = 10.0

    def __init__(self, enabled: bool, every: float, ui_url: str | None = None) -> None:
        self.enabled, self.every, self.ui_url = enabled, max(0.0, float(every)), ui_url
        self._next = time.monotonic() + self.every
        self.curves: Any = None  # pipeline.results.insights.curves.CurveCache, made with the first report

    def maybe(self, uri: str, parent_run_id: str, sweep_dir: Path) -> None:
        if not self.enabled or time.monotonic() < self._next:
            return
        start = time.monotonic()
        self._draw(uri, parent_run_id, sweep_dir, final=False)
        cost = time.monotonic() - start
        self._next = time.monotonic() + max(self.every, self.COST_FACTOR * cost)

    def final(self, uri: str, parent_run_id: str, sweep_dir: Path) -> None:
        """The report in ``sweep_dir/report``, also logged on the parent run."""
        self._draw(uri, parent_run_id, sweep_dir, final=True)

    def _draw(self, uri: str, parent_run_id: str, sweep_dir: Path, final: bool) -> None:
        try:
            from pipeline.results.insights.curves import CurveCache
            from pipeline.results.report import generate_report, write_report

            self.curves = self.curves or CurveCache()
            folder = sweep_dir / names.REPORT_DIR
            if final:
                generate_report(uri, parent_run_id, out_dir=folder, curves=self.curves, ui_url=self.ui_url)
                log.info("Report: %s", folder / names.REPORT_TAG)
            else:
                write_report(uri, parent_run_id, folder, final=False, curves=self.curves, ui_url=self.ui_url)
        except Exception as e:  # noqa: BLE001
            log.warning("Could not write the sweep report: %s", e)
