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


_watching = threading.Event()


def watch_sweeper(on_gone: Callable[[], None] | None = None) -> None:
    """In a worker: stop this process when the sweeper named by ``LEASE_ENV`` is gone.

    Checked now (a queued trial of a dead sweeper never starts), then every ``POLL_SECONDS`` by one daemon
    thread for the life of the process, idle or not. ``on_gone`` gets a few seconds to record the trial as
    KILLED before the process exits with status 3. Without the variable (a trial run on its own), nothing.
    """
    lease = os.environ.get(LEASE_ENV)
    if not lease:
        return
    _current_on_gone[0] = on_gone
    if not alive(lease):
        _stop(lease, on_gone)
    if _watching.is_set():
        return
    _watching.set()

    def loop() -> None:
        while alive(lease):
            time.sleep(POLL_SECONDS)
        _stop(lease, _current_on_gone[0])

    threading.Thread(target=loop, daemon=True, name="sweeper-watchdog").start()


_current_on_gone: list[Callable[[], None] | None] = [None]


def set_on_gone(on_gone: Callable[[], None] | None) -> None:
    """What the watchdog runs before it stops this process (the running trial's clean-up), or nothing."""
    _current_on_gone[0] = on_gone


def _stop(lease: str, on_gone: Callable[[], None] | None) -> None:
    log.error("The sweeper that started this worker (%s) is gone: stopping this worker", lease)
    if on_gone is not None:
        done = threading.Thread(target=on_gone, daemon=True)
        done.start()
        done.join(5.0)
    os._exit(3)


def _start_time(pid: int) -> str:
    """The process's start time as the kernel counts it ("" when there is no such process)."""
    try:
        import psutil

        return f"{psutil.Process(pid).create_time():.2f}"
    except Exception:  # noqa: BLE001 - no such process, or no access: not the lease's holder
        return ""
