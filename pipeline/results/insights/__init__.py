"""What a finished (or interrupted) sweep learned, read back from MLflow.

``history`` collects the sweep into one table of trials, ``curves`` fetches every trial's per-step
values, ``importance`` ranks its parameters (or says how many more trials that needs); ``figures``
and ``timeline`` draw the interactive (plotly) figures, ``front`` those of a sweep with several objectives (its
Pareto front and hypervolume), ``table`` the trials table, ``html`` the
self-contained page, ``plots`` the static PNGs; ``pipeline.results.report`` writes them and puts them on
the parent run. Importing this package imports neither matplotlib, plotly nor scikit-learn.
"""

from __future__ import annotations

from pipeline.results.insights.history import (
    SelectionGap,
    SweepHistory,
    TrialRow,
    load_history,
    selection_gap,
)

__all__ = ["SelectionGap", "SweepHistory", "TrialRow", "load_history", "selection_gap"]
