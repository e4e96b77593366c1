"""Pruning: stop unpromising trials early, deciding inside each trial from what MLflow holds."""

from pipeline.pruning.reporter import PruningReporter, TrialPruned, make_reporter

__all__ = ["PruningReporter", "TrialPruned", "make_reporter"]
