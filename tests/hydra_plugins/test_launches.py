"""Launches in flight, with real threads and processes: overlap, order of ending, a launch that raises, the
one-slot path in the calling thread, what a launcher's context carries to workers, and stopping workers."""

from __future__ import annotations

import pickle
import subprocess
import sys
import threading
import time

import psutil

from hydra_plugins.pipeline_sweeper._launches import Launches, PreparedSignal, stop_workers, worker_died


def sleeper(job):
    seconds, fail = job
    time.sleep(seconds)
    if fail:
        raise RuntimeError("launcher broke")
    return [threading.current_thread().name]


def test_launches_overlap_and_end_in_the_order_they_finish():
    launches = Launches(sleeper, slots=2, signal=None)
    start = time.monotonic()
    launches.start("slow", (0.6, False))
    launches.start("fast", (0.2, False))
    assert launches.free() == 0 and len(launches) == 2
    first, second = launches.wait(5), launches.wait(5)
    assert (first.key, second.key) == ("fast", "slow") and time.monotonic() - start < 1.0  # not 0.8 s in a row
    assert first.results == ["launch-fast"] and launches.free() == 2 and launches.wait(0.05) is None


def test_a_launch_that_raises_is_handed_back_with_its_error():
    launches = Launches(sleeper, slots=2, signal=None)
    launches.start(0, (0.0, True))
    ended = launches.wait(5)
    assert ended.results is None and str(ended.error) == "launcher broke" and not worker_died(ended.error)


def test_one_slot_runs_the_launch_here_and_now():
    launches = Launches(sleeper, slots=1, signal=None)
    launches.start(7, (0.0, False))
    assert launches.wait(0).results == [threading.current_thread().name]


class Loader:
    def load_sweep_config(self, config, overrides):
        return list(overrides)


def test_the_launchers_context_says_when_a_launch_is_prepared():
    signal = PreparedSignal(Loader())
    assert not signal.prepared.is_set()
    assert signal.load_sweep_config(None, ["a=1"]) == ["a=1"] and signal.prepared.is_set()
    signal.prepared.clear()
    copy = pickle.loads(pickle.dumps(signal))  # shipped to a worker: prepared, and the loader travels
    assert signal.prepared.is_set() and copy.load_sweep_config(None, ["b=2"]) == ["b=2"]


def test_stop_workers_kills_what_the_sweep_started_and_spares_older_processes():
    older = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        launches = Launches(sleeper, slots=2, signal=None)
        worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        assert stop_workers(launches, wait=5) == 1
        assert not psutil.pid_exists(worker.pid)  # killed (and reaped by stop_workers)
        assert older.poll() is None and psutil.Process(older.pid).status() != psutil.STATUS_ZOMBIE
    finally:
        older.kill()
        older.wait()
