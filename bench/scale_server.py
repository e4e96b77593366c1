"""bench/scale_out.py part (b): the per-trial cost of an MLflow tracking server against direct SQLite."""

from __future__ import annotations

import argparse
import functools
import logging
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import types
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.scale_common import SERVER_START_TIMEOUT, SERVER_TARGET, WARMUP, Report, clean_env, fmt_s, load


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
    from pipeline.results.reproduce import compose
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
    from pipeline.tracking.sweep_run import SweepRun

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
        total = statistics.median(sum(v for k,
                                      v in t.calls.items() if k.startswith("MlflowClient.")) for t in timings[mode])
        out(f"{mode}: {total:.0f} MlflowClient calls per trial")
