"""The Tracker: batched logging from parallel workers and through a real server, background writes, failures."""

from __future__ import annotations

import multiprocessing as mp

import pytest
from mlflow.tracking import MlflowClient

from pipeline.errors import TrackingError
from pipeline.tracking.tracker import Tracker

WORKERS, STEPS, PARAMS = 4, 120, 150


def _worker(uri: str, k: int, experiment: str) -> None:
    """Half the workers write through the background writer thread, as trials do."""
    tracker = Tracker.start(uri, experiment, f"worker-{k}", {"worker": str(k)}, background=k % 2 == 0)
    tracker.log_params({f"p{i}": i * k for i in range(PARAMS)})
    for step in range(1, STEPS + 1):
        tracker.log_metrics({"a": step * k, "b": -step, "c": 0.5 * step}, step=step, flush=step % 10 == 0)
        if step % 40 == 0:
            tracker.log_files({f"steps/{step}.txt": str(step * k)})
    tracker.finish(tags={"done": "yes"})


def run_workers(uri: str, experiment: str) -> None:
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_worker, args=(uri, k, experiment)) for k in range(WORKERS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
        assert p.exitcode == 0


def assert_nothing_lost(uri: str, experiment: str) -> None:
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id])
    assert sorted(r.data.tags["worker"] for r in runs) == [str(k) for k in range(WORKERS)]
    for r in runs:
        k = int(r.data.tags["worker"])
        assert r.info.status == "FINISHED" and len(r.data.params) == PARAMS and r.data.params["p7"] == str(7 * k)
        assert r.data.tags["done"] == "yes"
        assert sorted(a.path for a in client.list_artifacts(r.info.run_id, "steps")) == [
            f"steps/{s}.txt" for s in (120, 40, 80)]
        for key in "abc":
            assert [m.step for m in client.get_metric_history(r.info.run_id, key)] == list(range(1, STEPS + 1))


def test_background_writes_arrive_in_order_before_finish_returns(tracking_uri):
    tracker = Tracker.start(tracking_uri, "background", "bg", background=True)
    tracker.log_params({"a": 1})
    for step in range(50):
        tracker.log_metrics({"m": step}, step=step, flush=True)
    tracker.log_files({"x/y.txt": "hello"})
    tracker.finish(tags={"trial.state": "complete"})
    client = MlflowClient(tracking_uri)
    run = client.get_run(tracker.run_id)
    assert run.info.status == "FINISHED" and run.data.tags["trial.state"] == "complete"
    assert [(m.step, m.value) for m in client.get_metric_history(tracker.run_id, "m")] == [(s, s) for s in range(50)]
    assert [a.path for a in client.list_artifacts(tracker.run_id, "x")] == ["x/y.txt"]


def test_a_failed_background_write_fails_the_run_loudly(tracking_uri):
    """A write that MLflow refuses (here: changing a logged param) is raised, not lost in the writer thread."""
    tracker = Tracker.start(tracking_uri, "background", "bg-fail", background=True)
    tracker.log_params({"a": 1})
    tracker.log_params({"a": 2})
    with pytest.raises(TrackingError, match="MLflow logging .* failed"):
        tracker.finish()
    err = TrackingError("logging failed")
    tracker.fail(err)
    run = MlflowClient(tracking_uri).get_run(tracker.run_id)
    assert run.info.status == "FAILED" and run.data.tags["trial.state"] == "failed"
    assert run.data.params["a"] == "1"


@pytest.mark.slow
def test_parallel_workers_on_one_sqlite_file_lose_nothing(tracking_uri):
    run_workers(tracking_uri, "concurrency")
    assert_nothing_lost(tracking_uri, "concurrency")


@pytest.mark.slow
def test_parallel_workers_through_a_real_server_lose_nothing(mlflow_server):
    run_workers(mlflow_server, "concurrency-server")
    assert_nothing_lost(mlflow_server, "concurrency-server")


@pytest.mark.slow
def test_no_credentials_reach_mlflow(mlflow_server, compose_cfg, tmp_path):
    import mlflow

    from pipeline.trial import run_trial
    from tests.conftest import SWEEP_FAST

    secret_uri = mlflow_server.replace("http://", "http://alice:s3cr3t-pw@")
    overrides = [*SWEEP_FAST, f"tracking.uri={secret_uri}", "tracking.experiment=credentials"]
    result = run_trial(compose_cfg(overrides), overrides)
    run = MlflowClient(mlflow_server).get_run(result.run_id)
    assert run.data.params["tracking.uri"] == mlflow_server.replace("http://", "http://***@")
    everything = [*run.data.params.values(), *run.data.tags.values()]
    mlflow.artifacts.download_artifacts(run_id=result.run_id, tracking_uri=mlflow_server, dst_path=tmp_path)
    everything += [p.read_text() for p in tmp_path.rglob("*.yaml")]
    assert len(everything) > 20 and not any("s3cr3t" in text for text in everything)
