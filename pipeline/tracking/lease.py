"""Leases: who holds a sweep or a trial, and whether that process still lives.

A lease is ``host:pid:start`` (``start``: the process's creation time, so a reused pid is not mistaken for
it). The sweeper puts its own in its workers' environment (``LEASE_ENV``) and on the parent run; each trial
puts its own on its child run. Three uses:

- a worker whose sweeper is gone stops within ``POLL_SECONDS`` (``watch_sweeper``), however the sweeper
  died (a ``kill -9`` included) and does not start another trial;
- a resume refuses to run while the sweep's previous sweeper still lives;
- a resume waits for a trial whose older copy still runs on this machine before it runs the trial again.

Only processes on this machine can be checked; a lease held on another host counts as alive (Ray ends the
tasks of a driver that died).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable

from pipeline import runtime

log = logging.getLogger(__name__)

LEASE_ENV = "PIPELINE_SWEEPER_LEASE"  # in a worker's environment: the lease of the sweeper that started it
POLL_SECONDS = 1.0


def own() -> str:
    """This process's lease."""
    return f"{socket.gethostname()}:{os.getpid()}:{_start_time(os.getpid())}"


def alive(lease: str) -> bool:
    """Whether the process holding ``lease`` still runs (a lease from another host counts as alive)."""
    try:
        host, pid, start = lease.rsplit(":", 2)
        pid_int = int(pid)
    except ValueError:
        return False
    if host != socket.gethostname():
        return True
    return _start_time(pid_int) == start


def wait_until_gone(lease: str, seconds: float) -> bool:
    """Wait up to ``seconds`` for the process holding ``lease`` to end; True when it has."""
    deadline = time.monotonic() + seconds
    while alive(lease):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)
    return True


class Watchdog:
    """In a sweep's worker: stops this process when the sweeper that started it is gone. One per process (its
    thread checks the sweeper's lease every ``POLL_SECONDS`` for the life of the process, idle or not), kept on
    ``pipeline.runtime.process()``; each trial sets what it must record before the process exits (``on_gone``)."""

    def __init__(self, sweeper: str) -> None:
        self.sweeper = sweeper
        self._on_gone: Callable[[], None] | None = None
        self._thread = threading.Thread(target=self._watch, daemon=True, name="sweeper-watchdog")

    def on_gone(self, action: Callable[[], None] | None) -> None:
        """What the watchdog runs before it stops this process (the running trial's clean-up), or nothing."""
        self._on_gone = action

    def start(self) -> Watchdog:
        if not alive(self.sweeper):  # a queued trial of a dead sweeper never starts
            self._stop()
        if not self._thread.is_alive():
            self._thread.start()
        return self

    def _watch(self) -> None:
        while alive(self.sweeper):
            time.sleep(POLL_SECONDS)
        self._stop()

    def _stop(self) -> None:
        """``on_gone`` gets a few seconds to record the trial as KILLED before the process exits with status 3."""
        log.error("The sweeper that started this worker (%s) is gone: stopping this worker", self.sweeper)
        if self._on_gone is not None:
            done = threading.Thread(target=self._on_gone, daemon=True)
            done.start()
            done.join(5.0)
        os._exit(3)


class Unwatched:
    """What a trial run on its own gets instead of a ``Watchdog`` (no sweeper in its environment)."""

    def on_gone(self, action: Callable[[], None] | None) -> None:
        pass


def watch_sweeper() -> Watchdog | Unwatched:
    """In a worker started by a sweeper (``LEASE_ENV`` set): this process's watchdog, started once and checked
    now. Without the variable (a trial run on its own), nothing is watched."""
    sweeper = os.environ.get(LEASE_ENV)
    if not sweeper:
        return Unwatched()
    process = runtime.process()
    if process.watchdog is None or process.watchdog.sweeper != sweeper:
        process.watchdog = Watchdog(sweeper)
    return process.watchdog.start()


def _start_time(pid: int) -> str:
    """The process's start time as the kernel counts it ("" when there is no such process)."""
    try:
        import psutil

        return f"{psutil.Process(pid).create_time():.2f}"
    except Exception:  # noqa: BLE001 - no such process, or no access: not the lease's holder
        return ""
