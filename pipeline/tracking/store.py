"""The tracking store: which one (resolved once, credentials split off), whether it answers, and a client
that opens a new SQLite store safely and rides out SQLite's locks. Credentials are redacted here too; the
environment MLflow's client should run with (``MLFLOW_DEFAULTS``) is set by the entry points
(``pipeline.runtime.start``), never on import."""

from __future__ import annotations

import logging
import os
import random
import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from pipeline import runtime
from pipeline.errors import TrackingError
from pipeline.tracking.names import URI_KEY

log = logging.getLogger(__name__)

MLFLOW_DEFAULTS = {
    # MLflow 3.17's telemetry thread edits os.environ while requests reads it (a REST call failed on it).
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",  # no download bars in sweep logs
    # A tracking server that is down fails each call after 15-30 s of retries (backoff 1 + 2 + 4 + 8 s), not
    # MLflow's default of several minutes per call: a sweep whose server stays down ends (the sweeper's _health).
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "4",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
}
PROJECT_ROOT = Path(__file__).resolve().parents[2]
LOCK_RETRIES = 10             # ~1 min of backoff in all before a "database is locked" error is raised
LOCK_BACKOFF_SECONDS = 0.05
_SECRETS = re.compile(r"(?P<scheme>\b[a-z][a-z0-9+.-]*://)[^/\s@:]+(:[^/\s@]*)?@|"
                      r"(?P<key>(password|passwd|secret|token|api[_-]?key|access[_-]?key)=)[^&\s'\",]+",
                      re.IGNORECASE)


def default_tracking_uri() -> str:
    """The project's SQLite store, an absolute path independent of the job's working directory."""
    return f"sqlite:///{PROJECT_ROOT / 'mlruns' / 'mlflow.db'}"


def resolve_tracking_uri(uri: str | None, key: str = URI_KEY) -> str:
    """``uri`` if given (relative SQLite paths made absolute), else ``MLFLOW_TRACKING_URI``, else the default."""
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri()
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        uri = f"sqlite:///{Path(uri[len('sqlite:///'):]).resolve()}"
    scheme = urlparse(uri).scheme
    if scheme in ("", "file"):
        raise TrackingError(f"{key}={uri!r} is a file store, which MLflow 3 keeps only in maintenance "
                            "mode: expected sqlite:///ABSOLUTE/PATH.db or http://HOST:PORT")
    return uri


def split_credentials(uri: str) -> tuple[str, dict[str, str]]:
    """``http://user:pw@host`` -> ``("http://host", {MLFLOW_TRACKING_USERNAME: user, ...PASSWORD: pw})``.

    What travels to a sweep's trials (their overrides are printed and written to their job folders) is
    the URI without credentials; MLflow's client reads these variables for basic authentication.
    """
    parts = urlparse(uri)
    if parts.username is None:
        return uri, {}
    host = parts.hostname + (f":{parts.port}" if parts.port else "")
    env = {"MLFLOW_TRACKING_USERNAME": unquote(parts.username)}
    if parts.password is not None:
        env["MLFLOW_TRACKING_PASSWORD"] = unquote(parts.password)
    return parts._replace(netloc=host).geturl(), env


def artifact_root(uri: str) -> str | None:
    """Where a new experiment keeps artifacts: beside a SQLite database; the server decides otherwise."""
    if uri.startswith("sqlite:///"):
        return (Path(uri[len("sqlite:///"):]).parent / "artifacts").as_uri()
    return None


def check_reachable(uri: str, timeout: float = 5.0, wait: float = 0.0, key: str = URI_KEY) -> None:
    """Fail fast, before any run exists, when the store cannot be reached.

    ``wait`` seconds of retries let a trial of a running sweep ride out a tracking-server restart.
    """
    if uri.startswith("sqlite:///"):
        db = Path(uri[len("sqlite:///"):])
        try:
            db.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise TrackingError(f"{key}={uri!r}: cannot create {db.parent} ({e.strerror}); expected a folder "
                                "this user can create") from None
        if not os.access(db.parent, os.W_OK):
            raise TrackingError(f"{key}={uri!r}: {db.parent} is not writable; expected a folder this user "
                                "can write")
        return
    if urlparse(uri).scheme in ("http", "https"):
        import requests

        deadline = time.monotonic() + wait
        while True:
            try:
                requests.get(uri.rstrip("/") + "/health", timeout=timeout).raise_for_status()
                return
            except requests.RequestException as e:
                if time.monotonic() >= deadline:
                    raise TrackingError(
                        f"{key}={redact(uri)!r} is unreachable: {type(e).__name__}; expected a running server "
                        "(make server starts one), or tracking.uri / MLFLOW_TRACKING_URI naming one") from None
                time.sleep(1.0)


def existing_store(uri: str) -> str:
    """``uri``, checked to name a store that is there (a command reading runs back must not create an empty one)."""
    if uri.startswith("sqlite:///") and not Path(uri[len("sqlite:///"):]).is_file():
        raise TrackingError(f"tracking store {redact(uri)} does not exist: expected the store the runs were logged "
                            "to (--tracking-uri, or MLFLOW_TRACKING_URI)")
    check_reachable(uri)
    return uri


def import_store(uri: str) -> None:
    """Import MLflow and the store code ``uri`` needs (seconds), touching no store: a sweep does it while its
    checks run in another process, before it may write anything."""
    import mlflow  # noqa: F401
    from mlflow.tracking import MlflowClient  # noqa: F401

    if uri.startswith("sqlite:"):
        from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore  # noqa: F401
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore as _  # noqa: F401


def get_client(uri: str) -> RetryingClient:
    """A client of the store at ``uri``; a SQLite store is opened safely the first time this process uses it."""
    from mlflow.tracking import MlflowClient

    opened = runtime.process().opened_stores
    if uri.startswith("sqlite:///") and uri not in opened:
        _open_sqlite_store(uri)
        opened.add(uri)
    return RetryingClient(MlflowClient(tracking_uri=uri))


def _open_sqlite_store(uri: str) -> None:
    """Open (and, for a new file, create) a SQLite store under a file lock beside it: two sweeps starting at
    once on a store that does not exist yet would otherwise both run MLflow's schema migrations on it."""
    import fcntl

    db = Path(uri[len("sqlite:///"):])
    db.parent.mkdir(parents=True, exist_ok=True)
    with open(db.with_name(db.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=uri)  # the tracking and registry stores, migrations included
        client.search_experiments(max_results=1)
        client.search_registered_models(max_results=1)


class RetryingClient:
    """An ``MlflowClient`` whose calls are retried with backoff while SQLite reports a lock.

    Parallel workers writing to one SQLite file hit "database is locked" (directly, or as a 500 from a
    server over SQLite); the failed transaction was rolled back, so the call is safe to repeat.
    Connection errors to a server are already retried by MLflow's HTTP client.
    """

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            for attempt in range(LOCK_RETRIES):
                try:
                    return attr(*args, **kwargs)
                except Exception as e:
                    if "locked" not in str(e) or attempt == LOCK_RETRIES - 1:
                        raise
                    time.sleep(LOCK_BACKOFF_SECONDS * 2**attempt * (1 + random.random()))
            raise AssertionError("unreachable")

        return call


def redact(text: str) -> str:
    """Hide credentials (``scheme://user:password@``, ``token=...``) before anything reaches MLflow."""
    return _SECRETS.sub(lambda m: f"{m['scheme']}***@" if m["scheme"] else f"{m['key']}***", text)
