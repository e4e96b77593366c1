"""A sweep trial's refit model, logged after the fact from its checkpoint and config (real trial, real store)."""

from __future__ import annotations

import mlflow
import pytest
import torch
from mlflow.tracking import MlflowClient

from pipeline.results.best_model import ensure_logged_model, log_best_model, logged_model_id
from pipeline.tracking.store import get_client
from pipeline.tracking.sweep_run import SweepRun, TrialRecord, best_record
from pipeline.trial import run_trial
from tests.conftest import TINY, score_served

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sweep(tmp_path_factory, store_template):
    """Two trials of a sweep (no model logged by either), the second one with tracking.log_model=false."""
    from pipeline.results.reproduce import compose
    from tests.conftest import fresh_store

    uri = fresh_store(store_template, tmp_path_factory.mktemp("best_model"))
    parent = SweepRun.create(uri, "best-model", "grid-sweep", {"sweep.strategy": "grid",
                                                                 "sweep.direction": "maximize"}, {})
    records = []
    for k, extra in enumerate([[], ["tracking.log_model=false"]]):
        overrides = [*TINY, f"tracking.uri={uri}", "tracking.experiment=best-model",
                     f"tracking.parent_run_id={parent.run_id}", f"tracking.trial_number={k}", *extra]
        result = run_trial(compose(overrides), overrides)
        records.append(TrialRecord(k, {}, "complete", result.objective + (1.0 if k == 0 else 0.0),
                                   run_id=result.run_id))
    parent.finish(records, best_record(records, "maximize"), {})
    return uri, parent.run_id, records, compose(TINY)


def test_a_sweep_trial_logs_no_model_of_its_own(sweep):
    uri, _, records, _ = sweep
    client = MlflowClient(uri)
    exp = client.get_run(records[0].run_id).info.experiment_id
    assert logged_model_id(client, exp, records[0].run_id) is None


def test_the_model_rebuilt_from_the_checkpoint_scores_as_logged(sweep):
    uri, parent_id, records, cfg = sweep
    model_id = log_best_model(uri, parent_id)
    client = MlflowClient(uri)
    exp = client.get_run(records[0].run_id).info.experiment_id
    assert model_id is not None and logged_model_id(client, exp, records[0].run_id) == model_id
    assert ensure_logged_model(get_client(uri), uri, exp, records[0].run_id) == model_id  # not logged twice
    mlflow.set_tracking_uri(uri)
    model = mlflow.pytorch.load_model(f"models:/{model_id}")
    scores = score_served(model, cfg.data)  # raw pixels in: normalisation is inside the model
    assert scores["accuracy"] == pytest.approx(client.get_run(records[0].run_id).data.metrics["test_accuracy"],
                                               abs=1e-9)
    x = torch.rand(3, 1, 8, 8)
    assert torch.equal(model(x.reshape(3, 64)), model(x))  # flat batches too: the checkpoint knows the shape


def test_no_model_when_the_config_says_so(sweep):
    uri, _, records, _ = sweep
    exp = MlflowClient(uri).get_run(records[1].run_id).info.experiment_id
    assert ensure_logged_model(get_client(uri), uri, exp, records[1].run_id) is None
