"""Is the sweep's store still there? A tracking server that goes down and stays down ends the sweep in a
bounded time, with one line, instead of trials and the sweeper retrying for ever.

While trials run, the sweeper asks the server's ``/health`` every ``every`` seconds; when a check (or one of
its own MLflow calls) fails, it keeps asking for ``patience`` seconds (a server restarted within that time
loses nothing) and then stops with ``StoreLost``. MLflow's own retries of each call are bounded in
``pipeline.tracking.store`` (15-30 s: ``MLFLOW_HTTP_REQUEST_MAX_RETRIES``), so a trial that meets the outage fails in
that time too.
Worst case from the outage to the sweeper's exit: ``every + patience`` plus one call's retries, under 4 minutes
with the defaults.
"""

from __future__ import annotations

import os
import time

from pipeline.errors import TrackingError
from pipeline.tracking.store import check_reachable, redact

CHECK_EVERY = 30.0   # seconds between health checks while trials run (PIPELINE_STORE_CHECK_SECONDS)
PATIENCE = 120.0     # seconds the server may stay down (PIPELINE_STORE_PATIENCE_SECONDS)


class StoreLost(RuntimeError):
    """The tracking server stayed unreachable: the sweep stops, its parent stays RUNNING for a resume."""


class StoreWatch:
    def __init__(self, uri: str, parent_run_id: str, every: float | None = None, patience: float | None = None) -> None:
        every = every or float(os.environ.get("PIPELINE_STORE_CHECK_SECONDS", CHECK_EVERY))
        patience = patience or float(os.environ.get("PIPELINE_STORE_PATIENCE_SECONDS", PATIENCE))
        self.uri, self.parent_run_id, self.every, self.patience = uri, parent_run_id, every, patience
        self.remote = uri.startswith(("http://", "https://"))
        self._last = time.monotonic()

    def check(self) -> None:
        """A health check when ``every`` seconds have passed since the last one; raises ``StoreLost``."""
        if not self.remote or time.monotonic() - self._last < self.every:
            return
        self._last = time.monotonic()
        try:
            check_reachable(self.uri, timeout=5.0)
        except TrackingError:
            self._wait()

    def lost(self, error: BaseException) -> None:
        """After one of the sweeper's MLflow calls raised ``error``: ``StoreLost`` if the store is gone for good,
        else nothing (the caller re-raises ``error``: it was not the store)."""
        if not self.remote:
            return
        try:
            check_reachable(self.uri, timeout=5.0)
        except TrackingError:
            self._wait(error)

    def _wait(self, error: BaseException | None = None) -> None:
        try:
            check_reachable(self.uri, timeout=5.0, wait=self.patience)
        except TrackingError:
            why = f" ({type(error).__name__})" if error is not None else ""
            raise StoreLost(
                f"The tracking server {redact(self.uri)} has been unreachable for over {self.patience:.0f} s{why}: "
                f"the sweep stops, its workers are stopped and its parent run stays RUNNING. Once the server is "
                f"back, resume with the same command and hydra.sweeper.resume={self.parent_run_id}.") from None
        self._last = time.monotonic()
