"""Progress: a live line per fold on a terminal, nothing per epoch elsewhere, one log line per fold always."""

from __future__ import annotations

import io
import logging
import sys

import pytest

from pipeline.training.loop import FitResult
from pipeline.training.progress import Progress


class Terminal(io.StringIO):
    """A stream that says it is a terminal, and counts flushes."""

    flushes = 0

    def isatty(self) -> bool:
        return True

    def flush(self) -> None:
        self.flushes += 1
        super().flush()


RECORD = {"train_loss": 0.123456, "val_loss": 0.234567, "val_accuracy": 0.876543}


def result(best_epoch=4, best_score=0.912345, epochs=6):
    return FitResult(history=[dict(RECORD)] * epochs, best_epoch=best_epoch, best_score=best_score)


def fold_lines(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "pipeline"]


def test_quiet_off_a_terminal_but_one_log_line_per_fold(caplog):
    stream = io.StringIO()
    progress = Progress(folds=3, epochs=6, metric="val_accuracy", stream=stream)
    assert not progress.live
    with caplog.at_level(logging.INFO, logger="pipeline"):
        for epoch in range(1, 7):
            progress.on_epoch_end(0, epoch, RECORD)
        assert stream.getvalue() == "" and fold_lines(caplog) == []
        progress.on_fold_end(0, result())
        for epoch in range(1, 4):
            progress.on_epoch_end(1, epoch, RECORD)
        progress.on_fold_end(1, result(best_epoch=2, best_score=0.25, epochs=3))
    assert stream.getvalue() == ""
    assert fold_lines(caplog) == ["fold 1/3: val_accuracy 0.9123 at epoch 4 of 6",
                                  "fold 2/3: val_accuracy 0.2500 at epoch 2 of 3"]
    assert all(r.levelno == logging.INFO for r in caplog.records if r.name == "pipeline")


def test_live_line_on_a_terminal(caplog):
    stream = Terminal()
    progress = Progress(folds=5, epochs=20, metric="val_accuracy", stream=stream)
    assert progress.live
    with caplog.at_level(logging.INFO, logger="pipeline"):
        progress.on_epoch_end(1, 7, RECORD)
        first = stream.getvalue()
        assert first == "\rfold 2/5  epoch   7/20  train_loss 0.1235  val_loss 0.2346  val_accuracy 0.8765"
        assert "\n" not in first and stream.flushes >= 1  # one line, rewritten in place
        progress.on_epoch_end(1, 8, {**RECORD, "val_loss": 0.2})
        second = stream.getvalue()[len(first):]
        assert second.startswith("\rfold 2/5  epoch   8/20") and "val_loss 0.2000" in second
        assert stream.flushes >= 2
        assert fold_lines(caplog) == []
        progress.on_fold_end(1, result(best_epoch=8, best_score=0.2, epochs=8))
    assert stream.getvalue().endswith("\r\033[K")  # the live line is cleared for what comes next
    assert "\n" not in stream.getvalue()
    assert fold_lines(caplog) == ["fold 2/5: val_accuracy 0.2000 at epoch 8 of 8"]


def test_live_line_shows_the_loss_and_the_metric_optimized():
    stream = Terminal()
    Progress(folds=1, epochs=2, metric="val_rmse", stream=stream).on_epoch_end(0, 1, {"train_loss": 1.0,
                                                                                      "val_loss": 4.0,
                                                                                  "val_rmse": 2.0, "val_r2": 0.5})
    assert stream.getvalue() == "\rfold 1/1  epoch   1/2  train_loss 1.0000  val_loss 4.0000  val_rmse 2.0000"


def test_defaults_to_stderr(capsys):
    progress = Progress(folds=1, epochs=1, metric="val_accuracy")
    assert progress.stream is sys.stderr
    progress.on_epoch_end(0, 1, RECORD)
    assert capsys.readouterr().err == ""  # pytest's captured stderr is no terminal


@pytest.mark.parametrize("stream", [io.StringIO(), Terminal()], ids=["pipe", "tty"])
def test_fold_line_reports_the_best_epoch_not_the_last(stream, caplog):
    progress = Progress(folds=2, epochs=10, metric="val_accuracy", stream=stream)
    with caplog.at_level(logging.INFO, logger="pipeline"):
        progress.on_fold_end(1, result(best_epoch=3, best_score=0.5, epochs=7))  # stopped early after 7
    assert fold_lines(caplog) == ["fold 2/2: val_accuracy 0.5000 at epoch 3 of 7"]
