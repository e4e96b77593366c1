"""Leases with real processes: who is alive, and a worker that stops when its sweeper is gone."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import psutil

from pipeline.tracking import lease
from tests.conftest import ROOT


def lease_of(pid: int) -> str:
    return f"{socket.gethostname()}:{pid}:{psutil.Process(pid).create_time():.2f}"


def test_a_lease_is_alive_while_its_process_runs_and_not_after():
    assert lease.alive(lease.own())
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    held = lease_of(proc.pid)
    assert lease.alive(held)
    proc.kill()
    proc.wait()
    assert not lease.alive(held) and lease.wait_until_gone(held, 1.0)
    assert lease.alive(f"another-host:{proc.pid}:1.00")  # cannot be checked from here: counted as alive
    assert not lease.alive("garbage") and not lease.alive(f"{socket.gethostname()}:{os.getpid()}:1.00")  # reused pid


WORKER = """
import sys, time
from pipeline.tracking import lease
lease.watch_sweeper().on_gone(lambda: open(sys.argv[1], "w").write("cleaned up"))
print("watching", flush=True)
time.sleep(60)
"""
SWEEPER = """
import os, subprocess, sys, time
from pipeline.tracking import lease
os.environ[lease.LEASE_ENV] = lease.own()
worker = subprocess.Popen([sys.executable, "-c", sys.argv[1], sys.argv[2]], stdout=subprocess.PIPE, text=True)
print(worker.pid, flush=True)
worker.stdout.readline()
print("ready", flush=True)
time.sleep(60)
"""


def test_a_worker_stops_within_seconds_when_its_sweeper_is_killed(tmp_path):
    marker = tmp_path / "cleaned"
    sweeper = subprocess.Popen([sys.executable, "-c", SWEEPER, WORKER, str(marker)], cwd=ROOT,
                               stdout=subprocess.PIPE, text=True)
    worker_pid = int(sweeper.stdout.readline())
    assert sweeper.stdout.readline().strip() == "ready"
    worker = psutil.Process(worker_pid)
    sweeper.kill()
    sweeper.wait()
    start = time.monotonic()
    worker.wait(timeout=10)
    assert time.monotonic() - start < 5 and marker.read_text() == "cleaned up"


def test_a_worker_whose_sweeper_is_already_gone_never_starts(tmp_path):
    gone = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    held = lease_of(gone.pid)
    gone.kill()
    gone.wait()
    code = subprocess.run([sys.executable, "-c",
                           "from pipeline.tracking import lease; lease.watch_sweeper(); print('ran')"],
                          cwd=ROOT, env={**os.environ, lease.LEASE_ENV: held}, capture_output=True, text=True)
    assert code.returncode == 3 and "ran" not in code.stdout
