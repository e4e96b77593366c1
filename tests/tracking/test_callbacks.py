"""Fold callbacks writing a trial's curves and checkpoints to a real MLflow run."""

from __future__ import annotations

from pathlib import Path

import mlflow
import torch
from mlflow.tracking import MlflowClient

from pipeline.tracking.callbacks import CheckpointLogger, CurveLogger
from pipeline.tracking.tracker import Tracker, checkpoint_bytes
from pipeline.training.loop import FitResult


def test_curves_are_logged_per_fold_at_each_epoch(tracking_uri):
    tracker = Tracker.start(tracking_uri, "callbacks", "curves", background=True)
    logger = CurveLogger(tracker)
    for fold in (0, 1):
        for epoch in (1, 2, 3):
            logger.on_epoch_end(fold, epoch, {"train_loss": 1.0 / epoch + fold, "val_accuracy": 0.1 * epoch})
        logger.on_fold_end(fold, FitResult())
    tracker.finish()
    client = MlflowClient(tracking_uri)
    assert [(m.step, m.value) for m in client.get_metric_history(tracker.run_id, "fold_1/train_loss")] == [
        (1, 2.0), (2, 1.5), (3, 1.0 + 1 / 3)]
    assert sorted(client.get_run(tracker.run_id).data.metrics) == [
        "fold_0/train_loss", "fold_0/val_accuracy", "fold_1/train_loss", "fold_1/val_accuracy"]


def test_each_folds_best_weights_are_uploaded_and_load_with_weights_only(tracking_uri, tmp_path):
    tracker = Tracker.start(tracking_uri, "callbacks", "checkpoints", background=True)
    state = torch.nn.Linear(3, 2).state_dict()
    CheckpointLogger(tracker).on_fold_end(1, FitResult(best_epoch=4, best_state=state))
    tracker.finish()
    folder = mlflow.artifacts.download_artifacts(run_id=tracker.run_id, tracking_uri=tracking_uri,
                                                 dst_path=str(tmp_path))
    ckpt = torch.load(Path(folder, "checkpoints", "fold_1.pt"), weights_only=True)
    assert ckpt["best_epoch"] == 4 and all(torch.equal(ckpt["state_dict"][k], v) for k, v in state.items())


def test_checkpoint_bytes_round_trip_tensors_and_plain_values():
    import io

    obj = {"w": torch.arange(4.0), "shape": [1, 8, 8], "n": 3}
    back = torch.load(io.BytesIO(checkpoint_bytes(obj)), weights_only=True)
    assert torch.equal(back["w"], obj["w"]) and back["shape"] == [1, 8, 8] and back["n"] == 3
