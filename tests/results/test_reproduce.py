"""Re-running a logged run: which overrides are replayed, and how metrics are compared."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import pytest

from pipeline.results.reproduce import TIMING_METRICS, compare, compose, recorded_overrides


def run_with(overrides):
    tags = {} if overrides is None else {"hydra.overrides": json.dumps(overrides)}
    return SimpleNamespace(info=SimpleNamespace(run_id="abc"), data=SimpleNamespace(tags=tags))


def test_the_sweepers_bookkeeping_and_the_store_are_not_replayed():
    run = run_with(["optimizer.lr=0.01", "tracking.parent_run_id='p'", "tracking.trial_number=3",
                    "+tracking.parent_run_id=p", "tracking.uri=sqlite:////tmp/x.db", "model=cnn"])
    assert recorded_overrides(run) == ["optimizer.lr=0.01", "model=cnn"]


def test_a_run_not_logged_by_train_py_is_refused():
    with pytest.raises(SystemExit, match="no 'hydra.overrides' tag"):
        recorded_overrides(run_with(None))


def test_compare_every_summary_metric_but_timings():
    rows = compare({"cv_mean": 0.9, "test_loss": math.nan, "n_params": 10.0, "train_seconds": 5.0, "old": 1.0},
                   {"cv_mean": 0.9, "test_loss": math.nan, "n_params": 11.0, "train_seconds": 7.0, "new": 2.0})
    assert [(k, ok) for k, _, _, ok in rows] == [("cv_mean", True), ("n_params", False), ("test_loss", True)]
    assert "train_seconds" in TIMING_METRICS


def test_compose_applies_the_recorded_overrides_to_the_project_config():
    cfg = compose(["model=cnn", "optimizer.lr=0.02", "cv.folds=3"])
    assert cfg.model._target_ == "pipeline.models.cnn" and cfg.optimizer.lr == 0.02 and cfg.cv.folds == 3


def test_compose_with_a_users_config_folder(tmp_path):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "mine.yaml").write_text("_target_: my_pkg.net\n_partial_: true\nwidth: 3\n")
    cfg = compose(["model=mine"], [f"file://{tmp_path}"])
    assert cfg.model._target_ == "my_pkg.net" and cfg.model.width == 3


def test_relative_config_folders_are_recorded_absolute(tmp_path):
    from pipeline.cli import absolute_searchpath

    assert absolute_searchpath(["file://conf", "pkg://my_pkg.conf", f"file://{tmp_path}"], str(tmp_path)) == [
        f"file://{tmp_path / 'conf'}", "pkg://my_pkg.conf", f"file://{tmp_path}"]
