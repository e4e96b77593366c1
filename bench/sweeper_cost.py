"""The sweeper's own cost on a task that costs nothing, side by side with Hydra's Optuna sweeper.

    python bench/sweeper_cost.py                       # 1,000-trial sweeps, every strategy, basic and joblib
    python bench/sweeper_cost.py --trials 50 --strategies random,optuna-tpe --launchers basic   # a quick check

The task (``bench/formula_app``) returns Branin plus an integer and a categorical term at once and appends
its own time to a file, so that ``wall - task time`` is what the sweeper, Hydra and the launcher cost. For
each strategy and launcher it runs one sweep in a fresh process (``formula_app/measure.py`` runs the app
in-process and records the process's peak RSS: the sweeper's, since Hydra's basic launcher runs tasks in
it and joblib's workers are other processes), then:

* resume: our sweeper's finished parent gets ``sweep.n_trials`` raised by one, so that resuming it
  (``hydra.sweeper.resume=<parent>``, as the README documents) has exactly one trial left, as after an
  interruption; Optuna's sweeper is rerun on the same SQLite study with ``n_trials=1``. The time is from
  the command's start to the moment the next trial starts (imports, reading the record back, telling the
  optimizer and its next proposal).
* report: ``pipeline.results.report.generate_report`` on our parent run, timed in a process of its own (Hydra's
  Optuna sweeper has no report).

Strategies: ``random``, ``bayes`` and ``bayes-design`` are ours, tracked in MLflow (a SQLite store per sweep
in the scratch folder, through ``hydra.sweeper.tracking_uri`` since the app has no ``tracking.uri``), with
the report left to the separate measurement (``hydra.sweeper.report=false``). ``bayes-design`` is ``bayes``
with ``n_initial`` = ``--trials``: every trial of the sweep comes from the Sobol design, so it shows the
sweeper's own cost under ``bayes`` without the GP, and its resume asks the GP fitted on all of them; a
full ``bayes`` sweep's GP asks grow with the history (``--bayes-trials`` sizes it apart). ``optuna-random`` and
``optuna-tpe``
are ``hydra-optuna-sweeper`` with a SQLite study (``--optuna-storage memory`` adds its default in-memory
study, which cannot be resumed). Hydra's Optuna sweeper pins optuna<3, so it runs from a venv of its own:

    python3 -m venv bench/.venv-optuna
    bench/.venv-optuna/bin/pip install "hydra-core==1.3.*" hydra-optuna-sweeper hydra-joblib-launcher \\
        "sqlalchemy<2" "alembic<1.14"     # optuna 2.10's SQLite storage predates SQLAlchemy 2

``--rev REV`` measures our sweeper as committed at REV (extracted to the scratch folder and put first on
PYTHONPATH), not the working tree. The CPU column (the sweeper process's CPU seconds per trial) is the
figure to compare on a machine that other work loads; wall time there includes waiting for a core.

Results go to bench/results/sweeper_cost.txt (rewritten after every sweep, so a stopped run keeps what
it measured). Targets (issue 16): our time per trial at most Optuna TPE's on the same launcher; resume and
report each under 60 s; the sweeper's peak memory under 1 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "bench" / "formula_app" / "app.py"
MEASURE = ROOT / "bench" / "formula_app" / "measure.py"
RESULTS = ROOT / "bench" / "results" / "sweeper_cost.txt"
OPTUNA_PYTHON = ROOT / "bench" / ".venv-optuna" / "bin" / "python"
TASK_LOG_ENV = "FORMULA_TASK_LOG"  # bench/formula_app/app.py appends "<start epoch s> <task seconds>" per call
SPACE = ["x1=interval(-5,10)", "x2=interval(0,15)", "n=int(interval(0,10))", "kind=choice(a,b,c)"]
OURS = ("random", "bayes", "bayes-design")  # bayes-design: bayes with n_initial = trials (see --help)
OPTUNA = {"optuna-random": "random", "optuna-tpe": "tpe"}
STRATEGIES = (*OURS, *OPTUNA)
LAUNCHERS = ("basic", "joblib")
JOBLIB_WORKERS = 2
RESUME_TARGET_S = REPORT_TARGET_S = 60.0
MEMORY_TARGET_MB = 1024.0
CODE: dict[str, str] = {}  # where our sweeper's code is imported from: {"PYTHONPATH": snapshot} under --rev


@dataclass
class Sweep:
    """One measured sweep (or resume) and what its task log says."""

    label: str
    launched: float            # epoch seconds when the command was started
    wall: float                # the command's wall time
    tasks: list[tuple[float, float]]  # (start epoch s, task seconds) per trial
    peak_rss_mb: float
    cpu: float                 # CPU seconds of the sweeper's process (threads included, joblib's workers not)
    exit_code: int
    best: float | None = None
    parent_run_id: str | None = None

    @property
    def n(self) -> int:
        return len(self.tasks)

    @property
    def task_seconds(self) -> float:
        return sum(s for _, s in self.tasks)

    @property
    def per_trial(self) -> float:
        """Everything but the task, per trial: start-up and end of the sweep included."""
        return (self.wall - self.task_seconds) / max(self.n, 1)

    @property
    def cpu_per_trial(self) -> float:
        """The process's CPU time per trial (task included: microseconds): robust to other load on the machine."""
        return self.cpu / max(self.n, 1)

    @property
    def to_first_task(self) -> float:
        return self.tasks[0][0] - self.launched if self.tasks else float("nan")

    @property
    def between_trials(self) -> float:
        """Mean time from one task's start to the next one's, less the task: the steady per-trial cost."""
        if self.n < 2:
            return float("nan")
        starts = sorted(t for t, _ in self.tasks)
        return (starts[-1] - starts[0] - sum(s for _, s in sorted(self.tasks)[:-1])) / (self.n - 1)


# -- running one sweep ---------------------------------------------------------------------------------
def run_app(python: Path, args: list[str], folder: Path, env: dict[str, str] | None = None) -> Sweep:
    """Run the formula app under ``measure.py`` with ``args``; its files go to ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    task_log, measured = folder / "tasks.log", folder / "measure.json"
    task_log.unlink(missing_ok=True)
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", TASK_LOG_ENV: str(task_log), **(env or {})}
    cmd = [str(python), str(MEASURE), str(measured), str(APP), "-m", *args,
           f"hydra.sweep.dir={folder / 'multirun'}"]
    launched = time.time()
    with open(folder / "output.log", "w") as out:
        code = subprocess.run(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=folder).returncode
    wall = time.time() - launched
    stats = json.loads(measured.read_text()) if measured.exists() else {}
    if code != 0:
        tail = (folder / "output.log").read_text().splitlines()[-15:]
        raise RuntimeError(f"{' '.join(cmd)} exited with {code}:\n" + "\n".join(tail))
    tasks = [tuple(map(float, line.split())) for line in task_log.read_text().splitlines()] if task_log.exists() else []
    results = _results(folder / "multirun" / "optimization_results.yaml")
    return Sweep(folder.name, launched, wall, sorted(tasks), float(stats.get("peak_rss_mb", float("nan"))),
                 float(stats.get("cpu_s", float("nan"))), code, results.get("best_value"), results.get("parent_run_id"))


def _results(path: Path) -> dict[str, Any]:
    import yaml

    return (yaml.safe_load(path.read_text()) or {}) if path.exists() else {}


def launcher_args(launcher: str) -> list[str]:
    if launcher == "basic":
        return ["hydra.sweeper.n_jobs=1"]
    return ["hydra/launcher=joblib", f"hydra.launcher.n_jobs={JOBLIB_WORKERS}",
            f"hydra.sweeper.n_jobs={JOBLIB_WORKERS}"]


def ours_args(strategy: str, trials: int, seed: int, uri: str) -> list[str]:
    args = [f"hydra/sweeper={strategy.split('-')[0]}", f"hydra.sweeper.n_trials={trials}", f"hydra.sweeper.seed={seed}",
            f"hydra.sweeper.tracking_uri={uri}", "hydra.sweeper.experiment=formula", "hydra.sweeper.report=false",
            "hydra.sweeper.register_model=false"]
    return args + ([f"hydra.sweeper.n_initial={trials}"] if strategy == "bayes-design" else [])


def optuna_args(sampler: str, trials: int, seed: int, storage: str | None) -> list[str]:
    args = ["hydra/sweeper=optuna", f"hydra/sweeper/sampler={sampler}", f"hydra.sweeper.sampler.seed={seed}",
            f"hydra.sweeper.n_trials={trials}", "hydra.sweeper.direction=minimize", "hydra.sweeper.study_name=formula"]
    return args + ([f"hydra.sweeper.storage={storage}"] if storage else [])


# -- resume and report --------------------------------------------------------------------------------
def resume_ours(sweep: Sweep, strategy: str, launcher: str, uri: str, folder: Path) -> Sweep:
    """Resume the finished parent with one trial left (its ``sweep.n_trials`` raised by one)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    n_trials = int(client.get_run(sweep.parent_run_id).data.tags["sweep.n_trials"])
    client.set_tag(sweep.parent_run_id, "sweep.n_trials", str(n_trials + 1))
    args = [f"hydra/sweeper={strategy.split('-')[0]}", f"hydra.sweeper.resume={sweep.parent_run_id}",
            f"hydra.sweeper.tracking_uri={uri}", "hydra.sweeper.report=false", "hydra.sweeper.register_model=false"]
    return run_app(Path(sys.executable), args + launcher_args(launcher), folder, CODE)


def time_report(uri: str, parent_run_id: str, folder: Path) -> dict[str, float]:
    """``generate_report`` on the parent, in a fresh process: the import and the call, timed apart."""
    code = (
        "import json, resource, sys, time\n"
        "t0 = time.perf_counter()\n"
        "try:\n"
        "    from pipeline.results.report import generate_report\n"
        "except ImportError:  # --rev of a tree from before the regrouping\n"
        "    from pipeline.report import generate_report\n"
        "t1 = time.perf_counter()\n"
        "generate_report(sys.argv[1], sys.argv[2], out_dir=sys.argv[3])\n"
        "t2 = time.perf_counter()\n"
        "rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
        "print('REPORT_TIMES ' + json.dumps({'import': t1 - t0, 'report': t2 - t1, 'peak_rss_mb': rss}))\n"
    )
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "PYTHONPATH": str(ROOT), **CODE}
    done = subprocess.run([sys.executable, "-c", code, uri, parent_run_id, str(folder / "report")], env=env,
                          capture_output=True, text=True, cwd=folder)
    (folder / "report.log").write_text(done.stdout + done.stderr)
    for line in done.stdout.splitlines():
        if line.startswith("REPORT_TIMES "):
            return json.loads(line.split(" ", 1)[1])
    raise RuntimeError(f"generate_report failed:\n{done.stderr[-2000:]}")


# -- the benchmark ------------------------------------------------------------------------------------
@dataclass
class Row:
    strategy: str
    launcher: str
    sweep: Sweep
    resume: Sweep | None = None
    report: dict[str, float] | None = None

    @property
    def name(self) -> str:
        return self.strategy.replace("optuna-", "Optuna ")

    @property
    def ours(self) -> bool:
        return not self.strategy.startswith("optuna-")


def measure(strategy: str, launcher: str, trials: int, seed: int, scratch: Path, optuna_python: Path,
            storage: str) -> Row:
    folder = scratch / f"{strategy}-{launcher}-{storage}"
    if strategy in OURS:
        uri = f"sqlite:///{folder / 'mlflow.db'}"
        sweep = run_app(Path(sys.executable), ours_args(strategy, trials, seed, uri) + launcher_args(launcher) + SPACE,
                        folder, CODE)
        resume = resume_ours(sweep, strategy, launcher, uri, folder.with_name(folder.name + "-resume"))
        report = time_report(uri, sweep.parent_run_id, folder)
        return Row(strategy, launcher, sweep, resume, report)
    db = f"sqlite:///{folder / 'optuna.db'}" if storage == "sqlite" else None
    sampler = OPTUNA[strategy]
    sweep = run_app(optuna_python, optuna_args(sampler, trials, seed, db) + launcher_args(launcher) + SPACE, folder)
    resume = None
    if db:
        resume = run_app(optuna_python, optuna_args(sampler, 1, seed, db) + launcher_args(launcher) + SPACE,
                         folder.with_name(folder.name + "-resume"))
    return Row(strategy if storage == "sqlite" else f"{strategy} (in memory)", launcher, sweep, resume)


def table(rows: list[Row]) -> list[str]:
    head = (f"{'launcher':<8} {'sweeper':<24} {'trials':>6} {'wall s':>8} {'s/trial':>8} {'steady':>8} {'CPU/tr':>7} "
            f"{'start s':>7} {'resume s':>8} {'report s':>8} {'peak MB':>7} {'best':>8}")
    lines = [head, "-" * len(head)]
    for r in rows:
        s = r.sweep
        resume = f"{r.resume.to_first_task:8.2f}" if r.resume else f"{'n/a':>8}"
        report = f"{r.report['report']:8.2f}" if r.report else f"{'n/a':>8}"
        best = f"{s.best:8.4f}" if s.best is not None else f"{'-':>8}"
        sweeper = ("ours " if r.ours else "") + r.name
        lines.append(f"{r.launcher:<8} {sweeper:<24} {s.n:>6} {s.wall:8.1f} {s.per_trial:8.4f} {s.between_trials:8.4f} "
                     f"{s.cpu_per_trial:7.4f} "
                     f"{s.to_first_task:7.2f} {resume} {report} {s.peak_rss_mb:7.0f} {best}")
    return lines


def verdicts(rows: list[Row]) -> list[str]:
    """Each target, met or missed and by how much."""
    out = []
    for r in [r for r in rows if r.ours]:
        tpe = next((t for t in rows if t.strategy == "optuna-tpe" and t.launcher == r.launcher), None)
        tag = f"{r.strategy}/{r.launcher}:"
        if tpe is not None:
            ratio = r.sweep.per_trial / tpe.sweep.per_trial
            cpu = r.sweep.cpu_per_trial / tpe.sweep.cpu_per_trial
            out.append(f"{tag} per trial {r.sweep.per_trial * 1e3:.1f} ms vs Optuna TPE "
                       f"{tpe.sweep.per_trial * 1e3:.1f} ms = {ratio:.2f}x ({'met' if ratio <= 1 else 'MISSED'}, "
                       f"target <= 1x); CPU per trial {cpu:.2f}x")
        if r.resume:
            t = r.resume.to_first_task
            out.append(f"{tag} resume {t:.1f} s ({'met' if t < RESUME_TARGET_S else 'MISSED'}, target < 60 s)")
        if r.report:
            t = r.report["report"]
            out.append(f"{tag} report {t:.1f} s (+{r.report['import']:.1f} s import) "
                       f"({'met' if t < REPORT_TARGET_S else 'MISSED'}, target < 60 s)")
        peak = max(r.sweep.peak_rss_mb, r.resume.peak_rss_mb if r.resume else 0.0)
        out.append(f"{tag} peak RSS {peak:.0f} MB ({'met' if peak < MEMORY_TARGET_MB else 'MISSED'}, target < 1024 MB)")
    return out


def snapshot(rev: str, folder: Path) -> str:
    """Extract the code of git revision ``rev`` into ``folder`` (read-only use of the repository); its commit."""
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", rev], capture_output=True, text=True,
                            check=True).stdout.strip()
    folder.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return commit


def write(lines: list[str], path: Path | None) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--strategies", default=",".join(STRATEGIES), help=f"comma-separated, of {STRATEGIES}")
    parser.add_argument("--launchers", default=",".join(LAUNCHERS), help=f"comma-separated, of {LAUNCHERS}")
    parser.add_argument("--optuna-storage", default="sqlite", help="comma-separated, of sqlite, memory")
    parser.add_argument("--optuna-python", type=Path, default=OPTUNA_PYTHON)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip", default="",
                        help="comma-separated strategy/launcher pairs to leave out, e.g. bayes/joblib")
    parser.add_argument("--bayes-trials", type=int, default=None,
                        help="trials of the bayes sweep (default --trials): its GP's ask grows with the history, so "
                        "a 1,000-trial bayes sweep is long (the sum of 1,000 asks). bayes-design runs --trials under "
                        "bayes with n_initial=--trials: the sweeper's own cost without the GP, then a resume whose one "
                        "trial is proposed by the GP fitted on all of them")
    parser.add_argument("--scratch", type=Path, default=None, help="kept when given; default a temporary folder")
    parser.add_argument("--rev", default=None, help="measure our sweeper at this git revision (extracted to the "
                        "scratch folder) instead of the working tree, e.g. while others are editing it")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results file ('' for none)")
    args = parser.parse_args(argv)
    strategies, launchers = args.strategies.split(","), args.launchers.split(",")
    storages = args.optuna_storage.split(",")
    for value, allowed in [*((s, STRATEGIES) for s in strategies), *((x, LAUNCHERS) for x in launchers),
                           *((x, ("sqlite", "memory")) for x in storages)]:
        if value not in allowed:
            raise ValueError(f"{value=} is unknown; expected one of {allowed}")
    if args.trials < 2:
        raise ValueError(f"{args.trials=} must be >= 2")
    if any(s in OPTUNA for s in strategies) and not args.optuna_python.exists():
        raise ValueError(f"{args.optuna_python} is missing: create it as the module docstring says")
    scratch = args.scratch or Path(tempfile.mkdtemp(prefix="sweeper_cost-"))
    out = args.out if str(args.out) else None
    code = "the working tree"
    if args.rev:
        commit = snapshot(args.rev, scratch / "code")
        CODE["PYTHONPATH"] = str(scratch / "code")
        code = f"commit {commit[:10]}"

    header = [f"Sweeper cost: {args.trials}-trial sweeps of bench/formula_app (a task that returns a formula at once), "
              f"seed {args.seed}, {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d %H:%M')}, our sweeper from {code}",
              "s/trial: (wall - task time) / trials, start-up and end included; steady: between one trial's start and "
              "the next one's, less the task; CPU/tr: CPU seconds of the sweeper's process per trial;",
              "start s: command start to first trial; resume s: command start to the "
              "next trial on a resumed 1-trial-left parent; report s: generate_report on the parent (import apart);",
              "peak MB: peak RSS of the sweeper's process. Ours track every trial in MLflow (SQLite); Optuna's sweeper "
              "stores its study in SQLite unless '(in memory)'.", ""]
    rows: list[Row] = []
    for launcher in launchers:
        for strategy in strategies:
            for storage in (storages if strategy in OPTUNA else ["sqlite"]):
                if f"{strategy}/{launcher}" in args.skip.split(","):
                    continue
                print(f"-- {strategy} / {launcher} / {storage}", flush=True)
                trials = args.bayes_trials if strategy == "bayes" and args.bayes_trials else args.trials
                rows.append(measure(strategy, launcher, trials, args.seed, scratch, args.optuna_python, storage))
                lines = header + table(rows) + [""] + verdicts(rows)
                write(lines, out)
    print("\n".join(lines))
    if args.scratch is None:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
