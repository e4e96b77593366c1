"""The store (``pipeline.tracking.store``): which one (resolved once, credentials split off, never the file store),
whether it answers, a new SQLite store opened safely once per process, and credentials redacted."""

from __future__ import annotations

import multiprocessing as mp
import socket
import sqlite3

import pytest
from mlflow.tracking import MlflowClient

from pipeline import runtime
from pipeline.errors import TrackingError
from pipeline.tracking.store import (
    artifact_root,
    check_reachable,
    default_tracking_uri,
    get_client,
    redact,
    resolve_tracking_uri,
    split_credentials,
)


@pytest.mark.parametrize("text,expected", [
    ("http://user:s3cret@host:5000", "http://***@host:5000"),
    ("postgresql://mlflow:pw@db:5432/mlflow", "postgresql://***@db:5432/mlflow"),
    ("https://token@example.org/x", "https://***@example.org/x"),
    ("https://host/api?token=abc&x=1", "https://host/api?token=***&x=1"),
    ("sqlite:////tmp/a.db", "sqlite:////tmp/a.db"),
    ("s3://bucket/key", "s3://bucket/key"),
])
def test_credentials_are_redacted(text, expected):
    assert redact(text) == expected


def test_store_resolution(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert resolve_tracking_uri(None) == default_tracking_uri() and default_tracking_uri().startswith("sqlite:////")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:////x/env.db")
    assert resolve_tracking_uri(None) == "sqlite:////x/env.db"
    monkeypatch.chdir(tmp_path)
    assert resolve_tracking_uri("sqlite:///rel.db") == f"sqlite:///{tmp_path / 'rel.db'}"
    with pytest.raises(TrackingError, match="file store"):
        resolve_tracking_uri(str(tmp_path / "mlruns"))


def test_credentials_are_split_off_the_uri_for_the_environment():
    assert split_credentials("http://alice:p%40ss@host:5000/x") == (
        "http://host:5000/x", {"MLFLOW_TRACKING_USERNAME": "alice", "MLFLOW_TRACKING_PASSWORD": "p@ss"})
    assert split_credentials("http://token@host") == ("http://host", {"MLFLOW_TRACKING_USERNAME": "token"})
    assert split_credentials("sqlite:////tmp/a.db") == ("sqlite:////tmp/a.db", {})


def test_artifacts_live_beside_a_sqlite_store_and_the_server_decides_otherwise(tmp_path):
    assert artifact_root(f"sqlite:///{tmp_path / 'm.db'}") == (tmp_path / "artifacts").as_uri()
    assert artifact_root("http://127.0.0.1:5000") is None


def test_an_unreachable_or_unwritable_store_is_named_before_anything_runs(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(TrackingError, match=rf"tracking.uri='http://\*\*\*@127.0.0.1:{port}' is unreachable"):
        check_reachable(f"http://bob:pw@127.0.0.1:{port}", timeout=1.0)
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    if not __import__("os").access(locked, __import__("os").W_OK):  # root writes anywhere
        with pytest.raises(TrackingError, match="is not writable"):
            check_reachable(f"sqlite:///{locked / 'mlflow.db'}")
    check_reachable(f"sqlite:///{tmp_path / 'new' / 'mlflow.db'}")
    assert (tmp_path / "new").is_dir()


def _open(uri: str) -> None:
    get_client(uri).search_experiments()


def test_a_new_sqlite_store_opened_by_several_processes_at_once_is_migrated_once(tmp_path):
    uri = f"sqlite:///{tmp_path / 'fresh' / 'mlflow.db'}"
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_open, args=(uri,)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    with sqlite3.connect(tmp_path / "fresh" / "mlflow.db") as db:
        assert db.execute("select count(*) from alembic_version").fetchone() == (1,)
    assert MlflowClient(uri).search_experiments()[0].name == "Default"


def test_this_process_remembers_the_stores_it_opened(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert uri not in runtime.process().opened_stores
    get_client(uri)
    assert uri in runtime.process().opened_stores and (tmp_path / "mlflow.db").exists()
