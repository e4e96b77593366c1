"""Terminal progress: a live line per fold on a terminal, one line per fold in logs."""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

log = logging.getLogger("pipeline")


class Progress:
    """Fold callback that shows epochs live on a TTY and stays quiet (one line per fold) otherwise."""

    def __init__(self, folds: int, epochs: int, metric: str, stream: TextIO | None = None) -> None:
        self.folds, self.epochs, self.metric = folds, epochs, metric
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()

    def on_epoch_end(self, fold: int, epoch: int, record: dict[str, float]) -> None:
        if self.live:
            shown = ["train_loss", *dict.fromkeys(["val_loss", self.metric])]
            values = "  ".join(f"{k} {record[k]:.4f}" for k in shown if k in record)
            self.stream.write(f"\rfold {fold + 1}/{self.folds}  epoch {epoch:>3}/{self.epochs}  {values}")
            self.stream.flush()

    def on_fold_end(self, fold: int, result: Any) -> None:
        if self.live:
            self.stream.write("\r\033[K")
        log.info("fold %d/%d: %s %.4f at epoch %d of %d", fold + 1, self.folds, self.metric, result.best_score,
                 result.best_epoch, len(result.history))
