"""Fold callbacks that record a trial's training in its MLflow run (see ``pipeline.training.cv.FoldCallback``).

Both write through the trial's ``Tracker``, whose background writer overlaps the round trips with
training: the curves every epoch (buffered, sent in batches), each fold's best weights when it ends.
"""

from __future__ import annotations

from typing import Any

from pipeline.tracking.names import FOLD_BEST_EPOCH, fold_checkpoint, fold_metric
from pipeline.tracking.tracker import Tracker, checkpoint_bytes


class CurveLogger:
    """Each epoch's record as ``fold_<k>/<name>`` metrics at step ``epoch``."""

    def __init__(self, tracker: Tracker) -> None:
        self.tracker = tracker

    def on_epoch_end(self, fold: int, epoch: int, record: dict[str, float]) -> None:
        self.tracker.log_metrics({fold_metric(fold, k): v for k, v in record.items()}, step=epoch)

    def on_fold_end(self, fold: int, result: Any) -> None:
        pass


class CheckpointLogger:
    """Uploads each fold's best weights when the fold ends, so the upload overlaps the next fold."""

    def __init__(self, tracker: Tracker) -> None:
        self.tracker = tracker

    def on_epoch_end(self, fold: int, epoch: int, record: dict[str, float]) -> None:
        pass

    def on_fold_end(self, fold: int, result: Any) -> None:
        self.tracker.log_files({fold_checkpoint(fold): checkpoint_bytes({"state_dict": result.best_state,
                                                                         FOLD_BEST_EPOCH: result.best_epoch})})
