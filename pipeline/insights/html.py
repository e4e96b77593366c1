"""One self-contained HTML report of a sweep: figures embedded as base64 PNGs, tables inline, no links out.

It opens offline from a download of the parent run's artifacts, or straight from the MLflow UI.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipeline.insights.history import SelectionGap, SweepHistory
from pipeline.insights.importance import Importance

STYLE = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .6em;
text-align:left;font-size:.9em}th{background:#f3f3f3}img{max-width:100%;border:1px solid #eee}
.note{color:#555;font-size:.9em}figure{margin:1em 0 2em}"""
CAPTIONS = {"optimization_history.png": "Optimization history: each trial's objective and the best so far.",
            "parallel_coordinates.png": "Parallel coordinates: parameters (search-space scale) against the "
                                        "objective.",
            "importance.png": "Hyperparameter importance.",
            "learning_curves.png": "Learning curves of the top trials (cross-validated, mean over folds)."}


def render_html(history: SweepHistory, importance: Importance | None, gap: SelectionGap | None,
                figures: Mapping[str, str | Path]) -> str:
    """The report as one HTML string; ``figures`` maps file names (see ``plots.write_figures``) to PNGs."""
    parts = [f"<h1>Sweep report: {_e(history.strategy)} sweep</h1>", _summary(history),
             "<h2>Best trial</h2>", _best(history), "<h2>Selection gap</h2>", f"<p>{_e(gap_text(gap))}</p>",
             "<h2>Hyperparameter importance</h2>", _importance(importance)]
    parts += [_figure(name, path) for name, path in figures.items()]
    table = history.rows()
    parts += ["<h2>All trials</h2>", _table(list(table[0]) if table else None, [list(r.values()) for r in table])]
    body = "\n".join(parts)
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Sweep {_e(history.parent_run_id)}"
            f"</title><style>{STYLE}</style></head><body>\n{body}\n</body></html>\n")


def gap_text(gap: SelectionGap | None) -> str:
    """The selection gap in one or two sentences, for the report and the terminal."""
    if gap is None:
        return ("No held-out test score for the best trial (cv.refit=false, or no complete trial): the gap "
                "between its cross-validated and test scores is unknown.")
    std = f" +- {gap.cv_std:.4g}" if gap.cv_std is not None else ""
    text = (f"Best trial {gap.trial}: cross-validated {gap.metric} {gap.cv_score:.4g}{std}, held-out test "
            f"{gap.test_score:.4g}; gap {gap.gap:+.4g} (positive: the CV score was optimistic).")
    if gap.optimism is not None:
        text += (f" The median gap over the {gap.n_tested} complete trials with a test score is "
                 f"{gap.median_gap:+.4g}, so selection adds {gap.optimism:+.4g}.")
    return text


def _summary(history: SweepHistory) -> str:
    counts = ", ".join(f"{n} {s}" for s, n in history.counts().items() if n) or "no trials"
    planned = f" of {history.n_planned} planned" if history.n_planned else ""
    rows = [("parent run", history.parent_run_id), ("status", history.status),
            ("objective", f"{history.label} ({history.direction})"), ("trials", counts + planned),
            ("search space", json.dumps(history.space.to_grammar()))]
    return _table(None, rows)


def _best(history: SweepHistory) -> str:
    best = history.best
    if best is None:
        return "<p>No complete trial.</p>"
    std = f" +- {best.cv_std:.4g}" if best.cv_std is not None else ""
    test = history.test_score(best)
    rows = [("trial", best.number), ("run", best.run_id), (history.label, f"{best.value:.6g}{std}"),
            *([(history.test_key, "not measured" if test is None else f"{test:.6g}")] if history.test_key else []),
            *[(k, v) for k, v in sorted(best.params.items())]]
    return _table(None, rows)


def _importance(importance: Importance | None) -> str:
    if importance is None:
        return "<p>Too few complete trials to estimate importance.</p>"
    rows = [(name, f"{v:.3f}", f"{s:.3f}") for name, v, s in importance.ranked()]
    share = (f"Single parameters explain {importance.main_effects_share:.0%} of the surrogate's variance; "
             "the rest is interactions.")
    return (f"<p class=\"note\">Method: {_e(importance.method)} ({importance.n_trials} trials). {share}</p>"
            + _table(["parameter", "importance", "std across trees"], rows))


def _figure(name: str, path: str | Path) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    caption = CAPTIONS.get(name, f"Slice: the objective against {name[len('slice_'):-len('.png')]}.")
    return (f"<figure><img alt=\"{_e(name)}\" src=\"data:image/png;base64,{data}\">"
            f"<figcaption class=\"note\">{_e(caption)}</figcaption></figure>")


def _table(columns: list[str] | None, rows: list[Any]) -> str:
    """An HTML table; ``columns=None`` for a two-column key/value table without a header."""
    head = "<tr>" + "".join(f"<th>{_e(c)}</th>" for c in columns) + "</tr>" if columns else ""
    body = "".join("<tr>" + "".join(f"<td>{_e(_cell(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table>{head}{body}</table>"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)
