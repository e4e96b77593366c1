"""Launches in flight: a free worker takes the next trial at once, whatever the strategy and the launcher.

Hydra's launcher API is one blocking ``launch`` per batch, so a batch waits for its slowest trial. Here each
launch (one trial, or ``batch_size`` of them) runs in a daemon thread of its own, up to ``slots`` at a time,
and the sweep reacts to each as it ends. A launcher *prepares* one launch at a time (its globals, logging, a
Ray connection, the job's config): the next thread starts once the previous one has loaded its job configs,
so only the waiting overlaps. With one slot nothing is threaded: the launch runs in the calling thread,
exactly as under Hydra's own sweepers (the basic launcher runs the task in this very process).

``stop_workers`` ends what the launches started in this process tree (loky workers, submitit jobs), so a
sweep that stops leaves no worker behind; a sweeper killed outright is covered by ``pipeline.tracking.lease`` in the
workers themselves.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

PREPARE_SECONDS = 120.0  # the longest a launcher may take to prepare one launch before the next starts anyway


@dataclass
class Ended:
    """One launch that returned (``results``) or raised (``error``: a worker died, the launcher broke)."""

    key: Any
    results: Sequence[Any] | None = None
    error: BaseException | None = None


class PreparedSignal:
    """A launcher's config loader that says when a launch is prepared: it has loaded a job's config (in this
    process) or shipped its context to the workers (pickled)."""

    def __init__(self, loader: Any) -> None:
        self._loader = loader
        self.prepared = threading.Event()

    def load_sweep_config(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return self._loader.load_sweep_config(*args, **kwargs)
        finally:
            self.prepared.set()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("_loader", "prepared"):
            raise AttributeError(name)
        return getattr(self._loader, name)

    def __getstate__(self) -> dict[str, Any]:
        """Launchers that run jobs elsewhere (joblib, Ray, submitit) ship their context to the workers: by then
        the launch is prepared. Only the loader travels."""
        self.prepared.set()
        return {"_loader": self._loader}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._loader, self.prepared = state["_loader"], threading.Event()


class Launches:
    """Up to ``slots`` launches in flight; ``wait`` hands back each one as it ends."""

    def __init__(self, launch: Callable[[Any], Sequence[Any]], slots: int, signal: PreparedSignal | None) -> None:
        self.launch, self.slots, self.signal = launch, max(1, slots), signal
        self.running: dict[Any, threading.Thread] = {}
        self._ended: queue.Queue[Ended] = queue.Queue()
        self.older = child_pids()  # processes this one had before the sweep: never its workers

    @property
    def threaded(self) -> bool:
        return self.slots > 1

    def free(self) -> int:
        return self.slots - len(self.running)

    def __len__(self) -> int:
        return len(self.running)

    def start(self, key: Any, job: Any) -> None:
        """Launch ``job`` (what ``launch`` takes); with one slot, run it to its end here and now."""
        if not self.threaded:
            self.running[key] = threading.current_thread()
            self._ended.put(self._run(key, job))
            return
        if self.signal is not None:
            self.signal.prepared.clear()
        thread = threading.Thread(target=self._run_in_thread, args=(key, job), daemon=True, name=f"launch-{key}")
        self.running[key] = thread
        thread.start()
        if self.signal is not None:  # the launcher prepares one launch at a time
            deadline = time.monotonic() + PREPARE_SECONDS
            while not self.signal.prepared.wait(0.05) and thread.is_alive() and time.monotonic() < deadline:
                pass

    def wait(self, timeout: float) -> Ended | None:
        """The next launch to end, or None after ``timeout`` seconds with none ended."""
        try:
            ended = self._ended.get(timeout=timeout)
        except queue.Empty:
            return None
        self.running.pop(ended.key, None)
        return ended

    def _run_in_thread(self, key: Any, job: Any) -> None:
        """A launch in a thread of its own. Ctrl-C and SIGTERM are blocked in it, and so in the threads and processes
        it starts (a signal mask is inherited): a terminal's Ctrl-C reaches the whole process group, and the workers
        would each print their own interruption; the sweeper alone takes it, and ends them (``stop_workers``)."""
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        self._ended.put(self._run(key, job))

    def _run(self, key: Any, job: Any) -> Ended:
        try:
            return Ended(key, results=self.launch(job))
        except BaseException as e:  # noqa: BLE001 - a dead worker, a broken pool: the sweep decides
            if isinstance(e, KeyboardInterrupt) and not self.threaded:
                raise  # Ctrl-C or SIGTERM in a launch run here (Hydra's basic launcher): the sweep is interrupted
            return Ended(key, error=e)


# What a launcher raises when a worker process died under a trial (loky, concurrent.futures, Ray).
WORKER_DEATHS = ("TerminatedWorkerError", "BrokenProcessPool", "ShutdownExecutorError", "WorkerCrashedError",
                 "NodeDiedError", "RayActorError", "LocalRayletDiedError")


def worker_died(error: BaseException) -> bool:
    return type(error).__name__ in WORKER_DEATHS


def child_pids() -> set[int]:
    import psutil

    try:
        return {p.pid for p in psutil.Process().children(recursive=True)}
    except psutil.Error:
        return set()


def stop_workers(launches: Launches, wait: float = 10.0) -> int:
    """Kill every process this one started since the sweep began (and theirs), all at once, and let the launch
    threads see their launches fail. A trial has nothing to save on SIGTERM (the sweeper ends its run).
    Processes started before the sweep (a server a test started, say) are left alone. Meanwhile this process's
    stderr goes to /dev/null: a pool torn down under it prints tracebacks from its helper processes (loky's
    resource tracker) that say nothing to the user; the sweep's own lines go to the log. Returns how many."""
    import psutil

    try:
        children = [p for p in psutil.Process().children(recursive=True) if p.pid not in launches.older]
    except psutil.Error:
        return 0
    with _stderr_silenced():
        for child in children:
            try:
                child.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(children, timeout=wait)
        deadline = time.monotonic() + wait
        for thread in list(launches.running.values()):
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))
    if children:
        log.info("Stopped %d worker process(es) of this sweep", len(children))
    return len(children)


def release_idle_workers() -> None:
    """Once every launch has ended: shut the joblib launcher's pool down without waiting. Its workers (loky's
    reusable executor) otherwise stay until this process exits, which then waits seconds for each to tear down
    torch and the rest."""
    loky = sys.modules.get("joblib.externals.loky.reusable_executor")
    executor = getattr(loky, "_executor", None)
    if executor is not None:
        executor.shutdown(wait=False)


@contextlib.contextmanager
def _stderr_silenced() -> Iterator[None]:
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class Interrupts:
    """While a sweep runs, SIGTERM ends it like Ctrl-C (``KeyboardInterrupt``: the parent run is marked KILLED).

    A launcher's native code may install handlers of its own later, from a launch thread (Ray's driver installs
    one that aborts the process on SIGTERM): ``rearm`` puts Python's back, from the main thread, once a launch
    is prepared. Outside the main thread nothing can be installed, and nothing is."""

    def __init__(self) -> None:
        self.previous: Any = None
        self.main = threading.current_thread() is threading.main_thread()

    def __enter__(self) -> Interrupts:
        if self.main:
            self.previous = signal.signal(signal.SIGTERM, _sigterm)
        return self

    def rearm(self) -> None:
        if self.main:
            signal.signal(signal.SIGTERM, _sigterm)
            if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
                signal.signal(signal.SIGINT, signal.default_int_handler)

    def __exit__(self, *exc: Any) -> None:
        if self.main:
            signal.signal(signal.SIGTERM, self.previous)


def _sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def slots(launcher: Any, n_jobs: int, batch_size: int | None) -> int:
    """Launches in flight: ``n_jobs`` trials one by one, or one launch of ``batch_size`` at a time; one for a
    launcher that runs the task in this process (Hydra's basic launcher)."""
    if type(launcher).__name__ == "BasicLauncher":
        if n_jobs > 1:
            log.warning("hydra.sweeper.n_jobs=%d but Hydra's basic launcher runs one trial at a time in this "
                        "process; use a parallel launcher (hydra/launcher=joblib)", n_jobs)
        return 1
    return 1 if batch_size else n_jobs
