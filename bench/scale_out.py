"""Scale-out benchmark (issue #7): sweep throughput with 1 and 2 joblib workers, and the per-trial cost of
an MLflow tracking server against direct SQLite.

(a) Throughput. The same random sweep (``hydra/sweeper=random``, default trial config and search space,
    sweeper seed 0, N trials, the end-of-sweep report and registry as configured) through
    ``hydra/launcher=local_parallel`` (joblib, loky), one ``python train.py -m`` subprocess per variant,
    each on a fresh SQLite store:

        1w-t1   1 worker  (hydra.launcher.n_jobs=1 hydra.sweeper.n_jobs=1), trainer.num_threads=1 (the default)
        2w-t1   2 workers (launcher and sweeper n_jobs=2), trainer.num_threads=1
        1w-t0   1 worker, trainer.num_threads=0 (torch's default: one thread per core)
        2w-t0   2 workers, trainer.num_threads=0 (left to loky's per-worker thread cap)

    Finished trials per minute = FINISHED child runs / wall time of the whole command (start-up, worker
    start and the parent run included). From the store: the span from the first trial's start to the last
    one's end, and worker utilisation = summed trial time / (workers x span), which shows what the
    sweeper's batch barrier (a batch ends when its slowest trial does) costs. Target: 2w-t1 >= 1.6x 1w-t1.

(b) Server vs SQLite. A real ``mlflow server`` (SQLite backend, artifacts served through it, started here
    and killed at the end) against a direct ``sqlite:///`` store: ``pipeline.trial.run_trial`` in this
    process on the default config, the two modes interleaved (the order alternates every repeat), after
    one untimed tiny warm-up trial each. Every public ``MlflowClient`` method, ``mlflow.pytorch.log_model``
    and ``requests.Session.request`` (the HTTP round trips of server mode) are wrapped here, never in
    pipeline/, to count calls and time per trial. Target: server within 5% of SQLite.

    python bench/scale_out.py                                   # N=6, variants 1w-t1 and 2w-t1, 3 trial repeats
    python bench/scale_out.py --trials 8 --variants 1w-t0,1w-t1,2w-t1,2w-t0 --sweep-repeats 2
    python bench/scale_out.py --skip-throughput --override trainer.epochs=10
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import types
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# MLflow 3's telemetry thread sets and unsets _MLFLOW_TELEMETRY_SESSION_ID in os.environ while requests
# iterates os.environ for proxy settings: a REST call then fails with KeyError (seen here in server mode).
# Off for this process, the server and the sweeps alike (it also cannot reach its endpoint from here).
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

RESULTS = ROOT / "bench" / "results" / "scale_out.txt"
THROUGHPUT_TARGET = 1.6
SERVER_TARGET = 1.05
SERVER_START_TIMEOUT = 300.0  # ~20 s on a quiet 2-core machine, minutes on a loaded one
VARIANTS = {"1w-t0": (1, 0), "1w-t1": (1, 1), "2w-t1": (2, 1), "2w-t0": (2, 0)}  # name: (workers, threads)
# The target compares 2 workers with 1, each trial on one torch thread (the project default since
# trainer.num_threads=1); the 2-thread single worker is reported against the same baseline.
BASELINE, CANDIDATE = "1w-t1", "2w-t1"
WARMUP = ["trainer.epochs=1", "cv.folds=2", "data.subset=200", "cv.refit=false", "tracking.log_checkpoints=false",
          "tracking.log_model=false"]


class Report:
    """Prints each line as it comes and saves them all to ``path`` at the end (and on failure)."""

    def __init__(self, path: Path | None) -> None:
        self.path, self.lines = path, []

    def __call__(self, line: str = "") -> None:
        print(line, flush=True)
        self.lines.append(line)
        self.save()  # a run stopped half-way still leaves what it measured

    def save(self) -> None:
        if self.path:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text("\n".join(self.lines) + "\n")


def fmt_s(seconds: float) -> str:
    return f"{seconds * 1000:.1f}ms" if seconds < 1 else f"{seconds:.2f}s"


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def clean_env() -> dict[str, str]:
    """The environment of the sweeps: no MLFLOW_TRACKING_URI of the caller's, no Hydra full traces."""
    return {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "HYDRA_FULL_ERROR")}


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


# --------------------------------------------------------------------------------------------------
# (b) server vs SQLite
# --------------------------------------------------------------------------------------------------
class CallProfile:
    """Calls and inclusive time per wrapped function; ``top`` is the time the trial's own thread spent
    blocked in outermost MLflow calls, ``background`` the time of those on the tracker's writer thread."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = defaultdict(int)
        self.time: dict[str, float] = defaultdict(float)
        self.top = self.background = 0.0
        self._local = threading.local()

    def reset(self) -> None:
        self.calls.clear()
        self.time.clear()
        self.top = self.background = 0.0

    def wrap(self, name: str, fn: Callable[..., Any], counts_as_tracking: bool = True) -> Callable[..., Any]:
        prof = self

        @functools.wraps(fn)
        def timed(*a: Any, **kw: Any) -> Any:
            depth = getattr(prof._local, "depth", 0)
            outer = counts_as_tracking and depth == 0
            prof._local.depth = depth + counts_as_tracking
            t0 = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                dt = time.perf_counter() - t0
                prof._local.depth = depth
                prof.calls[name] += 1
                prof.time[name] += dt
                if outer and threading.current_thread() is threading.main_thread():
                    prof.top += dt
                elif outer:
                    prof.background += dt

        return timed


PROF = CallProfile()
HTTP = "HTTP requests (requests.Session.request)"


def instrument() -> None:
    """Wrap MlflowClient's public methods, the model logging and the HTTP layer (measurement only)."""
    import mlflow.pytorch
    import requests
    from mlflow.tracking import MlflowClient

    for name, fn in list(vars(MlflowClient).items()):
        if not name.startswith("_") and isinstance(fn, types.FunctionType):  # not static/class methods
            setattr(MlflowClient, name, PROF.wrap(f"MlflowClient.{name}", fn))
    mlflow.pytorch.log_model = PROF.wrap("mlflow.pytorch.log_model (inclusive)", mlflow.pytorch.log_model)
    requests.Session.request = PROF.wrap(HTTP, requests.Session.request, counts_as_tracking=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def mlflow_server(folder: Path, workers: str | None, out: Report) -> Iterator[str]:
    """A real ``mlflow server`` on a free loopback port; its whole process group is ended on exit."""
    import requests

    port = free_port()
    cmd = [str(Path(sys.executable).with_name("mlflow")), "server", "--host", "127.0.0.1", "--port", str(port),
           "--backend-store-uri", f"sqlite:///{folder / 'server.db'}", "--artifacts-destination",
           str(folder / "server-artifacts")] + (["--workers", workers] if workers else [])
    log = open(folder / "server.log", "w")  # noqa: SIM115  closed below
    proc = subprocess.Popen(cmd, cwd=folder, env=clean_env(), stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    url, t0 = f"http://127.0.0.1:{port}", time.perf_counter()
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited with {proc.returncode}; see {folder / 'server.log'}")
            try:
                if requests.get(url + "/health", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            if time.perf_counter() - t0 > SERVER_START_TIMEOUT:
                raise RuntimeError(f"mlflow server not healthy after {SERVER_START_TIMEOUT:.0f}s")
            time.sleep(0.5)
        out(f"mlflow server up on {url} after {time.perf_counter() - t0:.1f}s (workers: {workers or 'default'})")
        yield url
    finally:
        stop_group(proc)
        log.close()


def stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM the server's own process group (it was started in a new session), SIGKILL if it lingers."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@dataclass
class TrialTiming:
    wall: float
    cpu: float
    tracking: float                  # outermost MLflow calls the trial's thread waited on (client, log_model)
    background: float                # outermost MLflow calls on the tracker's writer thread (overlapping)
    calls: dict[str, int]
    time: dict[str, float]


def timed_trial(uri: str, extra: list[str], parent: str | None = None, number: int = 0) -> TrialTiming:
    """``run_trial`` on the composed config in this process, profiled; a sweep's trial when ``parent`` is set."""
    from pipeline.reproduce import compose
    from pipeline.trial import run_trial

    overrides = [*extra, f"tracking.uri={uri}"]
    if parent:
        overrides += [f"tracking.parent_run_id={parent}", f"tracking.trial_number={number}"]
    cfg = compose(overrides)
    PROF.reset()
    t0, c0 = time.perf_counter(), time.process_time()
    run_trial(cfg, overrides, job={"name": "scale_out"})
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return TrialTiming(wall, cpu, PROF.top, PROF.background, dict(PROF.calls), dict(PROF.time))


def server_vs_sqlite(args: argparse.Namespace, tmp: Path, out: Report) -> dict[str, list[TrialTiming]]:
    out(f"== (b) per-trial cost: mlflow server vs direct SQLite, run_trial in-process as the trial of a sweep "
        f"(under a parent run), {args.repeats} repeats each")
    out(f"extra overrides: {' '.join(args.override) or '(none: default trial config)'}")
    instrument()
    logging.getLogger("pipeline").setLevel(logging.WARNING)
    timings: dict[str, list[TrialTiming]] = {"server": [], "sqlite": []}
    with mlflow_server(tmp, args.server_workers, out) as url:
        uris = {"server": url, "sqlite": f"sqlite:///{tmp / 'direct' / 'mlflow.db'}"}
        parents = {}
        for mode in ("server", "sqlite"):  # creates the experiment; migrates the direct store (seconds)
            timed_trial(uris[mode], WARMUP)
            parents[mode] = parent_run(uris[mode])
        round_trips(uris, out)
        for rep in range(args.repeats):
            for mode in (("server", "sqlite") if rep % 2 == 0 else ("sqlite", "server")):
                t = timed_trial(uris[mode], args.override, parents[mode], rep)
                timings[mode].append(t)
                out(f"  [{time.strftime('%H:%M:%S')}] {mode:<6} repeat {rep + 1}: wall {t.wall:.2f}s, "
                    f"MLflow {t.tracking:.2f}s waited + {t.background:.2f}s in the background, "
                    f"{t.calls.get(HTTP, 0)} HTTP requests, load {load()}")
    server_tables(timings, out)
    return timings


def parent_run(uri: str) -> str:
    """A parent run like the sweeper's, so the timed trials log as a sweep's trials do."""
    from pipeline.sweep_tracking import SweepRun

    return SweepRun.create(uri, "hpo-pipeline", "scale-out-bench", {"sweep.strategy": "random"}, {}).run_id


def round_trips(uris: dict[str, str], out: Report, n: int = 20) -> None:
    """Median latency of one small read, to tell per-call cost from the number of calls."""
    from mlflow.tracking import MlflowClient

    for mode, uri in uris.items():
        client = MlflowClient(uri)
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            client.get_experiment_by_name("hpo-pipeline")
            times.append(time.perf_counter() - t0)
        out(f"  {mode:<6} one get_experiment_by_name round trip: median {fmt_s(statistics.median(times))}, "
            f"min {fmt_s(min(times))} over {n}")


def server_tables(timings: dict[str, list[TrialTiming]], out: Report) -> None:
    def med(mode: str, key: Callable[[TrialTiming], float]) -> float:
        return statistics.median(key(t) for t in timings[mode])

    out()
    out(f"{'mode':<7} {'median wall s':>13} {'min wall s':>10} {'cpu s':>7} {'MLflow s':>9} {'bg s':>6} "
        f"{'HTTP reqs':>9}   all wall s")
    for mode in ("sqlite", "server"):
        out(f"{mode:<7} {med(mode, lambda t: t.wall):>13.2f} {min(t.wall for t in timings[mode]):>10.2f} "
            f"{med(mode, lambda t: t.cpu):>7.2f} {med(mode, lambda t: t.tracking):>9.3f} "
            f"{med(mode, lambda t: t.background):>6.2f} "
            f"{med(mode, lambda t: t.calls.get(HTTP, 0)):>9.0f}   "
            + " ".join(f"{t.wall:.2f}" for t in timings[mode]))
    ratio = med("server", lambda t: t.wall) / med("sqlite", lambda t: t.wall)
    paired = [s.wall / q.wall for s, q in zip(timings["server"], timings["sqlite"])]
    extra = med("server", lambda t: t.tracking) - med("sqlite", lambda t: t.tracking)
    within = (med("sqlite", lambda t: t.wall) + extra) / med("sqlite", lambda t: t.wall)
    verdict = lambda x: "MET" if x <= SERVER_TARGET else "NOT MET"  # noqa: E731
    out(f"SERVER / SQLITE median wall: {ratio:.3f}x  (target <= {SERVER_TARGET:.2f}x: {verdict(ratio)}); "
        f"paired per repeat: {' '.join(f'{p:.3f}' for p in paired)}")
    out(f"from the MLflow time the trial waited on alone (immune to training noise): server waits {extra:+.2f}s "
        f"more per trial = {within:.3f}x of the SQLite trial ({verdict(within)}); writes on the background "
        "thread overlap training and count only through the wall time")
    call_table(timings, out)


def call_table(timings: dict[str, list[TrialTiming]], out: Report) -> None:
    """Calls per trial and median time per wrapped function, both modes."""
    names = sorted({n for ts in timings.values() for t in ts for n in t.calls},
                   key=lambda n: -statistics.median(t.time.get(n, 0.0) for t in timings["server"]))

    def cell(mode: str, name: str) -> str:
        calls = statistics.median(t.calls.get(name, 0) for t in timings[mode])
        seconds = statistics.median(t.time.get(name, 0.0) for t in timings[mode])
        return f"{calls:>5.0f} {fmt_s(seconds):>9}" if calls else f"{'-':>5} {'-':>9}"

    out()
    out("MLflow calls per trial (median count, median inclusive time); nested calls (e.g. inside log_model)")
    out("are listed on their own rows too, so rows do not add up; the 'MLflow s' column above counts each once.")
    out(f"{'call':<52} {'sqlite':>15} {'server':>15}")
    for name in names:
        out(f"{name:<52} {cell('sqlite', name)} {cell('server', name)}")
    for mode in ("sqlite", "server"):
        total = statistics.median(sum(v for k, v in t.calls.items() if k.startswith("MlflowClient.")) for t in timings[mode])
        out(f"{mode}: {total:.0f} MlflowClient calls per trial")


# --------------------------------------------------------------------------------------------------
def _terminate(signum: int, frame: Any) -> None:
    raise SystemExit(f"stopped by signal {signum}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=6, help="trials per throughput sweep (default 6)")
    parser.add_argument("--variants", default="1w-t1,2w-t1", help=f"throughput variants, of {','.join(VARIANTS)}")
    parser.add_argument("--sweep-repeats", type=int, default=1, help="sweeps per variant (order rotated)")
    parser.add_argument("--repeats", type=int, default=3, help="timed trials per mode in (b)")
    parser.add_argument("--override", action="append", default=[], help="extra Hydra override for both parts")
    parser.add_argument("--server-workers", default=None, help="mlflow server --workers (default: MLflow's, 4)")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-server", action="store_true")
    parser.add_argument("--out", default=str(RESULTS), help=f"report file (default {RESULTS}; '' = none)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (stores, sweep logs)")
    args = parser.parse_args(argv)
    if unknown := set(args.variants.split(",")) - set(VARIANTS):
        parser.error(f"--variants: unknown {sorted(unknown)}; expected some of {sorted(VARIANTS)}")
    warnings.filterwarnings("ignore")
    logging.basicConfig(level=logging.WARNING)

    import torch

    out = Report(Path(args.out) if args.out else None)
    out(f"scale_out (issue #7)  {time.strftime('%Y-%m-%d %H:%M')}  cpus={os.cpu_count()}  torch {torch.__version__} "
        f"(default threads {torch.get_num_threads()})  python {sys.version.split()[0]}  load before: {load()}")
    tmp = Path(tempfile.mkdtemp(prefix="scale_out-"))
    signal.signal(signal.SIGTERM, _terminate)  # run the finally blocks: the server is stopped, tmp removed
    try:
        if not args.skip_throughput:
            (tmp / "a").mkdir()
            throughput(args, tmp / "a", out)
            out()
        if not args.skip_server:
            (tmp / "b").mkdir()
            server_vs_sqlite(args, tmp / "b", out)
        out(f"load after: {load()}")
    finally:
        out.save()
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
