"""bench/scale_out.py part (a): sweep throughput with 1 and 2 joblib workers, from real sweeps."""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.scale_common import BASELINE, CANDIDATE, ROOT, THROUGHPUT_TARGET, VARIANTS, Report, clean_env, load


# --------------------------------------------------------------------------------------------------
# (a) throughput
# --------------------------------------------------------------------------------------------------
@dataclass
class SweepResult:
    variant: str
    wall: float
    cpu: float                                     # CPU seconds of the sweep and its workers
    durations: list[float] = field(default_factory=list)  # seconds of each FINISHED trial
    span: float = 0.0                              # first trial start -> last trial end
    startup: float = 0.0                           # command start -> first trial start
    wrapup: float = 0.0                            # last trial end -> command end (report, registry)
    machine_busy: float = 0.0                      # busy core-seconds of the whole machine meanwhile
    failed: int = 0

    @property
    def workers(self) -> int:
        return VARIANTS[self.variant][0]

    @property
    def per_minute(self) -> float:
        return 60.0 * len(self.durations) / self.wall

    @property
    def steady_per_minute(self) -> float:
        """Trials per minute between the first trial's start and the last one's end (no start-up)."""
        return 60.0 * len(self.durations) / self.span if self.span else float("nan")

    @property
    def others_cores(self) -> float:
        """Cores that processes other than this sweep kept busy meanwhile (other users' load)."""
        return max(self.machine_busy - self.cpu, 0.0) / self.wall

    @property
    def utilisation(self) -> float:
        return sum(self.durations) / (self.workers * self.span) if self.span else float("nan")


def busy_core_seconds() -> float:
    """Busy CPU time of the whole machine so far, from /proc/stat (0 where there is none)."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return 0.0
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def empty_store(folder: Path) -> Path:
    """An empty SQLite store with MLflow's schema (its migrations take seconds): copied for every sweep."""
    from mlflow.tracking import MlflowClient

    db = folder / "template.db"
    MlflowClient(f"sqlite:///{db}").search_experiments()
    return db


def sweep_command(variant: str, n_trials: int, uri: str, sweep_dir: Path, extra: list[str]) -> list[str]:
    workers, threads = VARIANTS[variant]
    return [sys.executable, str(ROOT / "train.py"), "-m", "hydra/sweeper=random", "hydra/launcher=local_parallel",
            f"hydra.launcher.n_jobs={workers}", f"hydra.sweeper.n_jobs={workers}", f"trainer.num_threads={threads}",
            f"hydra.sweeper.n_trials={n_trials}", "hydra.sweeper.seed=0", f"tracking.uri={uri}",
            f"hydra.sweep.dir={sweep_dir}", *extra]


def run_sweep(variant: str, n_trials: int, folder: Path, template: Path, extra: list[str]) -> SweepResult:
    """One sweep in a subprocess on a fresh store; its wall time, CPU time and trial timings."""
    import resource

    folder.mkdir(parents=True)
    shutil.copyfile(template, folder / "mlflow.db")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    cmd = sweep_command(variant, n_trials, uri, folder / "sweep", extra)
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0, started, busy0 = time.perf_counter(), time.time(), busy_core_seconds()
    proc = subprocess.run(cmd, cwd=folder, env=clean_env(), capture_output=True, text=True)
    wall, busy = time.perf_counter() - t0, busy_core_seconds() - busy0
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    (folder / "log.txt").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise RuntimeError(f"sweep {variant} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    result = SweepResult(variant, wall, (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime),
                         machine_busy=busy)
    read_trials(uri, result, started)
    return result


def read_trials(uri: str, result: SweepResult, started: float) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()], max_results=5000)
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    done = [r for r in children if r.info.status == "FINISHED"]
    result.failed = len(children) - len(done)
    result.durations = [(r.info.end_time - r.info.start_time) / 1000 for r in done]
    if done:
        first, last = min(r.info.start_time for r in done) / 1000, max(r.info.end_time for r in done) / 1000
        result.span, result.startup, result.wrapup = last - first, first - started, started + result.wall - last


def worker_threads() -> list[str]:
    """torch threads and OMP_NUM_THREADS inside 2 loky workers, as the joblib launcher starts them."""
    from joblib import Parallel, delayed

    def probe() -> str:
        import torch

        return f"torch={torch.get_num_threads()} OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}"

    return Parallel(n_jobs=2, backend="loky")(delayed(probe)() for _ in range(2))


def throughput(args: argparse.Namespace, tmp: Path, out: Report) -> dict[str, list[SweepResult]]:
    out(f"== (a) sweep throughput: {args.trials} trials of the default random sweep, hydra/launcher=local_parallel")
    out(f"extra overrides: {' '.join(args.override) or '(none: default trial config)'}")
    out(f"inside 2 loky workers, without trainer.num_threads: {'; '.join(worker_threads())}")
    template = empty_store(tmp)
    variants = args.variants.split(",")
    results: dict[str, list[SweepResult]] = defaultdict(list)
    for rep in range(args.sweep_repeats):
        order = variants[rep % len(variants):] + variants[:rep % len(variants)]
        for variant in order:
            out(f"  [{time.strftime('%H:%M:%S')}] sweep {variant} (repeat {rep + 1}), load {load()}")
            r = run_sweep(variant, args.trials, tmp / f"sweep-{variant}-{rep}", template, args.override)
            results[variant].append(r)
            out(f"      {len(r.durations)} finished, {r.failed} failed, wall {r.wall:.1f}s, "
                f"{r.per_minute:.3f} trials/min, utilisation {r.utilisation:.2f}, cpu/wall {r.cpu / r.wall:.2f}, "
                f"others' load {r.others_cores:.2f} cores")
    throughput_table(results, variants, out)
    return results


def throughput_table(results: dict[str, list[SweepResult]], variants: list[str], out: Report) -> None:
    def med(variant: str, key: Callable[[SweepResult], float]) -> float:
        return statistics.median(key(r) for r in results[variant])

    base = med(BASELINE, lambda r: r.per_minute) if BASELINE in results else None
    steady_base = med(BASELINE, lambda r: r.steady_per_minute) if base else None
    out()
    out(f"{'variant':<8} {'workers':>7} {'threads':>7} {'done':>5} {'wall s':>8} {'trials/min':>10} "
        f"{'vs ' + BASELINE:>9} {'span s':>8} {'/min in span':>12} {'vs ' + BASELINE:>9} {'mean trial s':>12} "
        f"{'utilisation':>11} {'cpu/wall':>8} {'others':>6} {'start-up s':>10} {'wrap-up s':>9}")
    for v in variants:
        workers, threads = VARIANTS[v]
        rate = med(v, lambda r: r.per_minute)
        steady = med(v, lambda r: r.steady_per_minute)
        ratio = f"{rate / base:.2f}x" if base else "-"
        steady_ratio = f"{steady / steady_base:.2f}x" if base else "-"
        out(f"{v:<8} {workers:>7} {threads:>7} {med(v, lambda r: len(r.durations)):>5.0f} "
            f"{med(v, lambda r: r.wall):>8.1f} {rate:>10.3f} {ratio:>9} {med(v, lambda r: r.span):>8.1f} "
            f"{steady:>12.3f} {steady_ratio:>9} "
            f"{med(v, lambda r: statistics.mean(r.durations)):>12.1f} {med(v, lambda r: r.utilisation):>11.2f} "
            f"{med(v, lambda r: r.cpu / r.wall):>8.2f} {med(v, lambda r: r.others_cores):>6.2f} "
            f"{med(v, lambda r: r.startup):>10.1f} "
            f"{med(v, lambda r: r.wrapup):>9.1f}")
    rates = {v: med(v, lambda r: r.per_minute) for v in variants}
    best = max(rates, key=rates.get)
    out(f"(medians over {len(results[variants[0]])} sweep(s) per variant; trials/min over the command's wall time, "
        f"'/min in span' from the first trial's start to the last one's end (no start-up); utilisation = summed "
        f"trial time / (workers x span); cpu/wall of 2.00 = both cores busy with this sweep; others = cores kept "
        f"busy meanwhile by other processes on the machine; start-up = command start to first "
        f"trial start; wrap-up = last trial end to command end)")
    if base and CANDIDATE in rates:
        ratio = rates[CANDIDATE] / base
        steady = med(CANDIDATE, lambda r: r.steady_per_minute) / steady_base
        out(f"THROUGHPUT {CANDIDATE} / {BASELINE}: {ratio:.2f}x over the whole command, {steady:.2f}x between first "
            f"trial start and last trial end  (target >= {THROUGHPUT_TARGET}x: "
            f"{'MET' if ratio >= THROUGHPUT_TARGET else 'NOT MET'})")
    if base and CANDIDATE in rates:
        projection(results, out)
    if "1w-t0" in rates and CANDIDATE in rates:
        out(f"THROUGHPUT {CANDIDATE} / 1w-t0 (one worker, torch's default threads): "
            f"{rates[CANDIDATE] / rates['1w-t0']:.2f}x")
    out(f"highest throughput: {best} ({VARIANTS[best][0]} worker(s), trainer.num_threads={VARIANTS[best][1]})")


def projection(results: dict[str, list[SweepResult]], out: Report) -> None:
    """What 2 workers would give on 2 cores nobody else uses: the 1-worker trial times, split over 2
    workers at the measured batch utilisation, plus the 2-worker sweep's own start-up and wrap-up
    (measured under the same contention, so this errs low)."""
    def med(variant: str, key: Callable[[SweepResult], float]) -> float:
        return statistics.median(key(r) for r in results[variant])

    busy = med(BASELINE, lambda r: sum(r.durations))
    util = med(CANDIDATE, lambda r: r.utilisation)
    span = busy / (VARIANTS[CANDIDATE][0] * util)
    wall = med(CANDIDATE, lambda r: r.startup) + span + med(CANDIDATE, lambda r: r.wrapup)
    out(f"ESTIMATE on 2 free cores (trials as fast as with 1 worker, utilisation {util:.2f}): span ratio "
        f"{med(BASELINE, lambda r: r.span) / span:.2f}x, whole command {med(BASELINE, lambda r: r.wall) / wall:.2f}x")
