"""What a finished (or interrupted) sweep learned, read back from MLflow.

``history`` collects the sweep into one table of trials, ``importance`` ranks its parameters,
``plots`` and ``html`` turn both into files; ``pipeline.report`` puts them on the parent run.
Importing this package imports neither matplotlib nor scikit-learn: each module does that itself.
"""

from __future__ import annotations

from pipeline.insights.history import SelectionGap, SweepHistory, TrialRow, load_history, selection_gap

__all__ = ["SelectionGap", "SweepHistory", "TrialRow", "load_history", "selection_gap"]
