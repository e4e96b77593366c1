"""The end of a sweep: ``optimization_results.yaml``, the parent run's summary and status, the best model,
the report, and where to look. A failure after the trials' results are safe never loses the sweep."""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from hydra_plugins.pipeline_sweeper._plan import SweepPlan
from hydra_plugins.pipeline_sweeper._trials import missing_runs
from pipeline import run_record as rr
from pipeline.sweep_tracking import SweepRun, TrialRecord, best_record, child_runs
from pipeline.tracking import redact

log = logging.getLogger("hydra_plugins.pipeline_sweeper._impl")
NOT_FINISHED_EXIT = 3  # python -m pipeline.registry: the sweep did not finish, nothing registered (one line)


def finish(conf: dict[str, Any], plan: SweepPlan, parent: SweepRun, records: Sequence[TrialRecord],
           counts: dict[str, int], sweep_dir: Path, status: str, store_up: bool = True) -> str | None:
    """Write ``optimization_results.yaml`` and end the parent run with ``status``; FAILED, with the reason
    returned, when trials ran but their runs are not in the sweep's store. With the store down
    (``store_up=False``) only the file is written: the parent stays RUNNING, for a resume."""
    found = {rr.trial_number(r): r.info.run_id for r in child_runs(plan.uri, parent.run_id)} if store_up else {}
    for r in records:
        r.run_id = found.get(r.number, r.run_id)
    lost = lost_runs_message(plan, parent.run_id, records, found) if status == "FINISHED" else None
    status = "FAILED" if lost else status
    best = best_record(records, plan.direction)
    results = plan.results(best, counts, parent.run_id, status if store_up else "INTERRUPTED")
    (sweep_dir / "optimization_results.yaml").write_text(redact(yaml.safe_dump(results, sort_keys=False)))
    if best is not None:
        log.info("Best trial %d: %s = %.6g; re-run it with: %s", best.number, plan.objective_key, best.value,
                 results["best_command"])
    elif counts.get("complete"):
        log.info("No trial returned a value: no best trial")
    if not store_up:
        return None
    parent.finish(records, best, results, status=status)
    if not lost and status == "FINISHED":
        insights(conf, plan, parent.run_id, best, sweep_dir)
    return lost


def insights(conf: dict[str, Any], plan: SweepPlan, parent_run_id: str, best: TrialRecord | None,
             sweep_dir: Path) -> None:
    """Log (and register) the best model, and write the report; a failure here never loses the sweep."""
    if best is not None:
        try:
            publish_best_model(plan.uri, parent_run_id, best.run_id, bool(conf.get("register_model", True)),
                               conf.get("model_name") or plan.experiment, conf.get("model_alias"))
        except Exception as e:  # noqa: BLE001 - reported, the sweep's results are already safe
            log.warning("Could not log or register the best model: %s", e)
    if conf.get("report", True):
        write_report(plan.uri, parent_run_id, sweep_dir, final=True)
    log.info("Open the MLflow UI on this sweep's store with: %s", ui_command(plan.uri))


def write_report(uri: str, parent_run_id: str, sweep_dir: Path, final: bool) -> None:
    """The sweep's report in ``sweep_dir/report``; ``final`` also logs it on the parent run."""
    try:
        from pipeline.report import generate_report
        from pipeline.report import write_report as write_page

        if final:
            generate_report(uri, parent_run_id, out_dir=sweep_dir / "report")
            log.info("Report: %s", sweep_dir / "report" / "report.html")
        else:
            write_page(uri, parent_run_id, sweep_dir / "report", final=False)
    except Exception as e:  # noqa: BLE001
        log.warning("Could not write the sweep report: %s", e)


def ui_command(uri: str) -> str:
    """The command that opens MLflow's UI on ``uri``: a server is already one; a SQLite file is served by
    ``make ui`` (which follows MLFLOW_TRACKING_URI) or ``mlflow ui``."""
    if uri.startswith(("http://", "https://")):
        return f"open {redact(uri)} in a browser"
    return f"MLFLOW_TRACKING_URI={uri} make ui   (or: mlflow ui --backend-store-uri {uri})"


def lost_runs_message(plan: SweepPlan, parent_run_id: str, records: Sequence[TrialRecord],
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
    start no process. Only a sweep that finished gets here: an interrupted one never moves an alias.
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
    level = logging.INFO if done.returncode in (0, NOT_FINISHED_EXIT) else logging.WARNING
    for line in (done.stdout + done.stderr).strip().splitlines()[-3:]:
        log.log(level, "%s", line)
    if done.returncode not in (0, NOT_FINISHED_EXIT):  # 3: the registry saw an unfinished sweep and said so
        raise RuntimeError(f"python -m pipeline.registry exited with {done.returncode}")


class ReportSchedule:
    """The report is rewritten while the sweep runs: after a batch, at most every ``max(MIN_SECONDS, COST_FACTOR x
    its last build time)``, so drawing takes at most a tenth of a large sweep's time."""

    MIN_SECONDS = 20.0
    COST_FACTOR = 10.0

    def __init__(self, enabled: bool) -> None:
        self.enabled, self._next = enabled, 0.0

    def maybe(self, uri: str, parent_run_id: str, sweep_dir: Path) -> None:
        if not self.enabled or time.monotonic() < self._next:
            return
        start = time.monotonic()
        write_report(uri, parent_run_id, sweep_dir, final=False)
        cost = time.monotonic() - start
        self._next = time.monotonic() + max(self.MIN_SECONDS, self.COST_FACTOR * cost)
