"""Where our sweeper's time per trial goes: a sweep of bench/formula_app with timers on its steps.

    python bench/sweeper_cost_profile.py --trials 1000 --strategy random      # --rev HEAD: that commit's code

Runs the sweep in this process (as ``hydra.main`` would) with wall-clock timers wrapped around the steps
of a trial's round (the launcher, Hydra's per-job config composition and job set-up, the child runs our
sweeper writes, the parent's per-trial metrics and per-batch tags, the optimizer's ask and tell, the
start and end of the sweep), and every ``MlflowClient`` call counted by name. Prints seconds in total and
milliseconds per trial for each. Timers cost microseconds; the steps they time cost milliseconds.
Measurement only: nothing in the sweeper is changed, and steps missing from the code under test are
left out of the table.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import os
import runpy
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "bench" / "formula_app" / "app.py"
SPACE = ["x1=interval(-5,10)", "x2=interval(0,15)", "n=int(interval(0,10))", "kind=choice(a,b,c)"]
# (label, module, attribute path): the steps timed, outermost first. A label may time several functions.
STEPS = [
    ("sweep (everything after Hydra starts the sweeper)", "hydra_plugins.pipeline_sweeper._impl", "SweeperImpl.sweep"),
    ("  open: create or reopen the parent run", "hydra_plugins.pipeline_sweeper._impl", "SweeperImpl._open"),
    ("  launcher.launch (Hydra's basic launcher, task included)", "hydra.core.plugins", "launch"),
    ("    Hydra: compose each job's config (load_sweep_config)", "hydra._internal.config_loader_impl",
     "ConfigLoaderImpl.load_sweep_config"),
    # Hydra re-executes its core plugin modules when it scans them, so the launcher's own names cannot be
    # patched beforehand: run_job is patched where it is imported from, launch on the launcher Hydra builds.
    ("    Hydra: run_job (job dir, .hydra/*.yaml, logging; task included)", "hydra.core.utils", "run_job"),
    ("  record_runs: one child run per trial", "hydra_plugins.pipeline_sweeper._impl", "record_runs"),
    ("  parent: per-trial metrics (SweepRun.log_trial)", "pipeline.tracking.sweep_run", "SweepRun.log_trial"),
    ("  parent: launched-trial tags per batch (Tracker.set_tags)", "pipeline.tracking.tracker", "Tracker.set_tags"),
    ("  optimizer.ask", None, "ask"),
    ("  optimizer.tell", None, "tell"),
    ("  best_record over all records (per trial)", "hydra_plugins.pipeline_sweeper._impl", "best_record"),
    ("  checks before the first trial (check_trials)", "hydra_plugins.pipeline_sweeper._impl", "check_trials"),
    ("  finish: read the children back, trials.csv, end the parent", "hydra_plugins.pipeline_sweeper._impl",
     "SweeperImpl._finish"),
    ("  finish: read the children back, trials.csv, end the parent", "hydra_plugins.pipeline_sweeper._impl", "finish"),
    ("  store watch (StoreWatch.check)", "hydra_plugins.pipeline_sweeper._impl", "StoreWatch.check"),
    ("  resume: load_state (parent, child runs)", "hydra_plugins.pipeline_sweeper._impl", "load_state"),
]
MLFLOW_CALLS = ("create_run", "log_batch", "set_terminated", "update_run", "get_run", "search_runs", "set_tag",
                "log_artifacts", "get_experiment_by_name", "create_experiment")


class Timers:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)

    def wrap(self, label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[label] += time.perf_counter() - t0
                self.calls[label] += 1

        return timed

    def patch(self, label: str, module: str, path: str) -> bool:
        try:
            owner: Any = importlib.import_module(module)
        except ImportError:
            return False
        *parents, name = path.split(".")
        for p in parents:
            owner = getattr(owner, p, None)
        if owner is None or not hasattr(owner, name):
            return False
        setattr(owner, name, self.wrap(label, getattr(owner, name)))
        return True


def instrument(timers: Timers) -> list[str]:
    """Wrap the steps found in the code under test; the labels of those timed, in order."""
    found = []
    for label, module, path in STEPS:
        if module == "hydra.core.plugins":
            _time_launches(timers, label)
            found.append(label)
        elif module is not None and timers.patch(label, module, path):
            found.append(label)
    impl = importlib.import_module("hydra_plugins.pipeline_sweeper._impl")
    make = getattr(impl, "make_sweep_optimizer", None)
    if make is not None:
        def make_timed(*args: Any, **kwargs: Any) -> Any:
            optimizer = make(*args, **kwargs)
            for label, _, name in STEPS:
                if _ is None and hasattr(optimizer, name):
                    setattr(optimizer, name, timers.wrap(label, getattr(optimizer, name)))
            return optimizer

        impl.make_sweep_optimizer = make_timed
        found += [label for label, module, _ in STEPS if module is None]
    from mlflow.tracking import MlflowClient

    for name in MLFLOW_CALLS:
        setattr(MlflowClient, name, timers.wrap(f"mlflow.{name}", getattr(MlflowClient, name)))
    return found


def _time_launches(timers: Timers, label: str) -> None:
    from hydra.core.plugins import Plugins

    instantiate = Plugins.instantiate_launcher

    def instantiate_timed(self: Any, *args: Any, **kwargs: Any) -> Any:
        launcher = instantiate(self, *args, **kwargs)
        launcher.launch = timers.wrap(label, launcher.launch)
        return launcher

    Plugins.instantiate_launcher = instantiate_timed


def task_seconds(log: Path) -> tuple[int, float]:
    lines = log.read_text().splitlines() if log.exists() else []
    return len(lines), sum(float(line.split()[1]) for line in lines)


def report(timers: Timers, found: list[str], trials: int, wall: float, task: float) -> list[str]:
    per = 1000.0 / max(trials, 1)
    lines = [f"{trials} trials, {wall:.1f} s wall in this process ({(wall - task) / max(trials, 1) * 1e3:.1f} ms "
             f"per trial besides the task; the task itself {task * 1e3:.1f} ms in all)", "",
             f"{'step':<68} {'calls':>6} {'total s':>8} {'ms/trial':>9}"]
    for label in found:
        if timers.calls.get(label) and label not in lines[-1]:  # a label timing two names is listed once
            lines.append(f"{label:<68} {timers.calls[label]:>6} {timers.seconds[label]:8.2f} "
                         f"{timers.seconds[label] * per:9.2f}")
    lines.append("")
    for label in sorted(k for k in timers.calls if k.startswith("mlflow.")):
        lines.append(f"{label:<68} {timers.calls[label]:>6} {timers.seconds[label]:8.2f} "
                     f"{timers.seconds[label] * per:9.2f}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--strategy", default="random", choices=("random", "bayes", "grid"))
    parser.add_argument("--resume", default=None, help="a parent run id in --uri to resume instead of a new sweep")
    parser.add_argument("--uri", default=None, help="the MLflow store (default: SQLite in a temporary folder)")
    parser.add_argument("--rev", default=None,
                        help="profile our sweeper at this git revision instead of the working tree")
    parser.add_argument("--extra", nargs="*", default=[], help="more overrides, e.g. hydra.sweeper.n_initial=1000")
    args = parser.parse_args(argv)
    scratch = Path(tempfile.mkdtemp(prefix="sweeper_profile-"))
    if args.rev:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.rev], capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(scratch)], input=archive, check=True)
        sys.path.insert(0, str(scratch))
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ["FORMULA_TASK_LOG"] = str(scratch / "tasks.log")
    uri = args.uri or f"sqlite:///{scratch / 'mlflow.db'}"
    overrides = [f"hydra/sweeper={args.strategy}", f"hydra.sweeper.tracking_uri={uri}", "hydra.sweeper.n_jobs=1",
                 "hydra.sweeper.report=false", "hydra.sweeper.register_model=false",
                 f"hydra.sweep.dir={scratch / 'multirun'}", *args.extra]
    if args.resume:
        overrides.append(f"hydra.sweeper.resume={args.resume}")
    else:
        overrides += [f"hydra.sweeper.n_trials={args.trials}", "hydra.sweeper.experiment=formula", *SPACE]
    timers = Timers()
    found = instrument(timers)
    sys.argv = [str(APP), "-m", *overrides]
    sys.path.insert(0, str(APP.parent))
    t0 = time.perf_counter()
    try:
        runpy.run_path(str(APP), run_name="__main__")
    except SystemExit as e:
        if e.code not in (0, None):
            raise
    wall = time.perf_counter() - t0
    n, task = task_seconds(scratch / "tasks.log")
    print("\n".join(report(timers, found, n, wall, task)))
    print(f"(scratch folder {scratch})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
