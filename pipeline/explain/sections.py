"""How each hyperparameter acted, as the report shows it: its figures by section anchor, its files, its notes.

Called by ``pipeline.results.report`` for a sweep's final report; imports nothing of training or of the models, so
the sweeper (which writes that report) stays clear of the trials' code.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from typing import Any


def hyper_sections(history: Any, defaults: Mapping[str, Any] | None) -> tuple[dict[str, Any], dict[str, str],
                                                                              list[str]]:
    """The report's figures (by anchor) and files (by name) on how each hyperparameter acted, and notes."""
    from pipeline.explain import hyper, hyper_figures

    expls = hyper.explain_sweep(history, dict(defaults) if defaults else None)
    figures: dict[str, Any] = {}
    if expls:
        first = expls[0]
        figures = {"effects": hyper_figures.dependence_figure(first), "pairs": hyper_figures.pair_figure(first),
                   "interactions": hyper_figures.interaction_figure(first),
                   "ablation": hyper_figures.ablation_figure(first)}
        for other in expls[1:]:
            figures[f"effects-{other.label}"] = hyper_figures.dependence_figure(other)
        if len(expls) > 1:
            figures["objective-importance"] = hyper_figures.importance_per_objective_figure(expls)
    files = {"effects.json": json.dumps([e.as_json() for e in expls], indent=2),
             "partial_dependence.csv": table_csv([r for e in expls for r in _labelled(e, e.dependence_rows())]),
             "pairs.csv": table_csv([r for e in expls for r in _labelled(e, e.pair_rows())]),
             "ablation.csv": table_csv([r for e in expls for r in _labelled(e, e.ablation_rows())])}
    notes = [n for e in expls for n in e.notes]
    return figures, files, notes


def _labelled(expl: Any, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [{"objective": expl.label, **r} for r in rows]


def table_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    """``rows`` as CSV, the columns in the order they first appear."""
    buf = io.StringIO()
    columns = list(dict.fromkeys(k for r in rows for k in r)) or ["objective"]
    writer = csv.DictWriter(buf, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()
