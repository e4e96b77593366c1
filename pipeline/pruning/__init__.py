"""Pruning: stop unpromising trials early, deciding inside each trial from what MLflow holds.

``rules`` are the pure decisions (no I/O: the trial's config checks import them); ``reporter`` reports each
epoch's intermediate value to MLflow and asks the rules, from inside the trial.
"""
