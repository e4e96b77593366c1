"""bench/train_overhead.py instrumentation: inclusive and self time per wrapped function (measurement only)."""

from __future__ import annotations

import copy
import functools
import os
import sys
import time
import types
from collections import defaultdict
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


import pipeline.results.served  # noqa: E402
import pipeline.tracking.callbacks  # noqa: E402
import pipeline.training.checks  # noqa: E402
import pipeline.training.cv  # noqa: E402
import pipeline.training.loop  # noqa: E402
import pipeline.training.progress  # noqa: E402
import pipeline.trial  # noqa: E402
from pipeline.tracking.tracker import Tracker  # noqa: E402


class Profile:
    def __init__(self) -> None:
        self.stats: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0])  # calls, inclusive, self
        self._stack: list[float] = []

    def reset(self) -> None:
        self.stats = defaultdict(lambda: [0, 0.0, 0.0])
        self._stack = []

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        prof = self

        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            prof._stack.append(0.0)
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                dt = time.perf_counter() - t0
                child = prof._stack.pop()
                s = prof.stats[name]
                s[0] += 1
                s[1] += dt
                s[2] += dt - child
                if prof._stack:
                    prof._stack[-1] += dt

        return timed


PROF = Profile()

# Names shared by the hand loop and the pipeline so that the breakdown lines up.
TRAIN_EPOCH, EVALUATE, LOAD, STATS, PREP, BUILD = ("train epoch (TrainStep.epoch)", "evaluate (val/test)",
                                                   "load_data", "fold statistics", "normalise+.to (batches)",
                                                   "build_model")
CV_SELF, REFIT_SELF = "cv loop itself (split, fit() bookkeeping)", "refit itself (fit() bookkeeping)"


def instrument() -> None:
    """Wrap the pieces whose cost the report breaks down. Measurement only; pipeline/ is untouched."""
    from mlflow.tracking import MlflowClient

    w = PROF.wrap
    # training path (pipeline.training.loop / pipeline.training.cv)
    pipeline.training.loop.TrainStep.epoch = w(TRAIN_EPOCH, pipeline.training.loop.TrainStep.epoch)
    pipeline.training.loop.evaluate = w(EVALUATE, pipeline.training.loop.evaluate)
    pipeline.training.cv.evaluate = w(EVALUATE, pipeline.training.cv.evaluate)
    pipeline.training.loop.copy = types.SimpleNamespace(deepcopy=w("copy.deepcopy(state_dict) in fit", copy.deepcopy))
    pipeline.training.cv.fold_scaling = w(STATS, pipeline.training.cv.fold_scaling)
    pipeline.training.cv.batches = w(PREP, pipeline.training.cv.batches)
    pipeline.training.cv.build_model = w(BUILD, pipeline.training.cv.build_model)
    cross_validate = w(CV_SELF, pipeline.training.cv.cross_validate)
    refit = w(REFIT_SELF, pipeline.training.cv.refit)
    pipeline.training.cv.cross_validate = pipeline.trial.cross_validate = cross_validate
    pipeline.training.cv.refit = pipeline.trial.refit = refit
    # trial-level
    pipeline.trial.load_data = w(LOAD, pipeline.trial.load_data)
    pipeline.training.checks.validate = w("config checks", pipeline.training.checks.validate)
    pipeline.trial.check_reachable = w("check_reachable", pipeline.trial.check_reachable)
    pipeline.trial.git_commit = w("git rev-parse (subprocess, in _tags)", pipeline.trial.git_commit)
    pipeline.trial.summary_metrics = w("summary_metrics/cv_curves", pipeline.trial.summary_metrics)
    pipeline.results.served.checkpoint_bytes = w("checkpoints: torch.save to bytes",
                                                 pipeline.results.served.checkpoint_bytes)
    pipeline.tracking.callbacks.checkpoint_bytes = w("checkpoints: torch.save to bytes",
                                                     pipeline.tracking.callbacks.checkpoint_bytes)
    for cls in (pipeline.tracking.callbacks.CurveLogger, pipeline.tracking.callbacks.CheckpointLogger):
        for hook in ("on_epoch_end", "on_fold_end"):
            setattr(cls, hook, w(f"{cls.__name__}.{hook}", getattr(cls, hook)))
    pipeline.trial._print_summary = w("_print_summary", pipeline.trial._print_summary)
    pipeline.training.progress.Progress.on_epoch_end = w("Progress.on_epoch_end",
                                                         pipeline.training.progress.Progress.on_epoch_end)
    pipeline.training.progress.Progress.on_fold_end = w("Progress.on_fold_end",
                                                        pipeline.training.progress.Progress.on_fold_end)
    # Tracker (self time = Python-side work; MLflow client calls are broken out below)
    Tracker.start = staticmethod(w("Tracker.start (client, experiment)", Tracker.start))
    for name in ("log_params", "log_metrics", "flush", "log_files", "log_model", "finish"):
        setattr(Tracker, name, w(f"Tracker.{name}", getattr(Tracker, name)))
    # MLflow client round trips (DB writes, artifact copies); nested calls inside log_model count here too
    for name in ("log_batch", "create_run", "set_terminated", "log_artifacts", "get_experiment_by_name",
                 "create_experiment", "set_experiment_tag", "get_run", "get_metric_history", "log_outputs",
                 "create_logged_model", "finalize_logged_model", "get_logged_model", "set_logged_model_tags"):
        if hasattr(MlflowClient, name):
            setattr(MlflowClient, name, w(f"MlflowClient.{name}", getattr(MlflowClient, name)))
