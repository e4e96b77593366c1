"""One self-contained interactive HTML report of a sweep: plotly.js inlined once, every figure and table inline.

It loads nothing from the network, so it opens offline: from a download of the parent run's
``report/`` artifacts, from the MLflow UI, or from the sweep directory while the sweep still runs.
The only URLs in it are links a reader may click (each trial's run in the MLflow UI).
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from pipeline.results.insights.history import SelectionGap, SweepHistory, TrialRow, bound_notes
from pipeline.results.insights.importance import Importance
from pipeline.results.insights.table import OPEN_RUN_JS, TABLE_JS, run_link, trials_table, ui_base, ui_control
from pipeline.tracking.names import HYPERVOLUME, trial_run_name

STYLE = """body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:1400px;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left;
font-size:.88em;vertical-align:top}th{background:#f3f3f3}table.trials th{cursor:pointer;position:sticky;top:0}
th[data-dir=asc]::after{content:" \\25B2"}th[data-dir=desc]::after{content:" \\25BC"}
tr.failed td{background:#fdecea}tr.pruned td{color:#666}td.error pre{white-space:pre-wrap;max-width:60em;margin:.3em 0}
.note{color:#555;font-size:.9em}.caveat{color:#8a4b00}section{margin:1em 0 2em}nav a{margin-right:1em}
.controls input{width:20em}"""
# (anchor, heading, what the figure shows): the report's figures in reading order
SECTIONS = (("history", "Optimization history", "Each trial's objective and the best so far; pruned trials at "
             "their last intermediate value."),
            ("parallel", "Parallel coordinates", "Complete trials; drag along any axis to select a range, "
             "drag the selection to move it, click beside it to clear it."),
            ("slices", "Slice plots", "The objective against each parameter."),
            ("contour", "Contour", "The objective over the two most important parameters."),
            ("intermediate", "Intermediate values", "Every trial's per-step values, pruned trials included; "
             "click a legend entry to hide a state."),
            ("ecdf", "Empirical distribution of the objective", "The share of complete trials scoring at or "
             "below each value."),
            ("timeline", "Timeline", "When each trial ran, one row per concurrent worker."),
            ("importance", "Hyperparameter importance", ""))
# the sections a sweep with several objectives adds, before the others (``figures`` holds them for such a sweep only)
FRONT_SECTIONS = (("front", "Pareto front", "Every complete trial by its objectives, the front's trials "
                   "highlighted: with two objectives a scatter (infeasible trials hollow and grey), the front joined "
                   "as the boundary of what it dominates; with more, parallel coordinates (drag along an axis to "
                   "select a range). Hover a point for its trial, values and parameters; click it to open its run."),
                  (HYPERVOLUME, "Hypervolume history", "The volume the feasible front dominates, bounded by the "
                   "reference point, after each trial (the parent run's metric hypervolume): it grows whenever a "
                   "trial extends the front."))

# how each hyperparameter acted (``pipeline.explain``), after importance; in the final report only
EFFECT_SECTIONS = (("effects", "How each hyperparameter acts", "Partial dependence of the objective on each parameter "
                    "(most important first): the sweep's surrogate (the GP bayes fits) averaged over the rest of the "
                    "space, with its 95% credible band; a conditional parameter only where it is active. Grey points: "
                    "the complete trials."),
                   ("pairs", "Top pairs", "Partial dependence on the most important pairs of parameters, and how much "
                    "of it neither parameter explains alone (Friedman's H squared)."),
                   ("interactions", "Interaction strength", "Friedman's H squared of the top pairs: 0 when the "
                    "parameters act independently, 1 when their joint effect is all interaction."),
                   ("ablation", "Ablation path", "From the app's own configuration to the best trial's, one change at "
                    "a time, the change that helps most first: what each change bought, measured where a trial ran "
                    "that configuration, else predicted by the surrogate (with its band)."),
                   ("objective-importance", "Importance per objective", "fANOVA importance of each parameter for each "
                    "objective, with its spread across trees."))


def effect_sections(figures: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """The effect sections ``figures`` has; with several objectives, one partial-dependence section per further
    objective (``effects-<name>``) after the first's."""
    out = [s for s in EFFECT_SECTIONS if s[0] in figures]
    more = [(k, f"How each hyperparameter acts on {k.removeprefix('effects-')}", EFFECT_SECTIONS[0][2])
            for k in figures if k.startswith("effects-")]
    return out[:1] + more + out[1:] if out and out[0][0] == "effects" else more + out


def render_html(history: SweepHistory, importance: Importance | None, gap: SelectionGap | None,
                figures: Mapping[str, Any], uri: str, note: str, plotly_js: str, final: bool = True,
                ui_url: str | None = None, effect_notes: Sequence[str] = ()) -> str:
    """The report as one HTML string.

    ``figures`` maps the anchors of ``SECTIONS`` to plotly figures (a missing one is skipped),
    ``note`` is ``importance.importance_note``, ``plotly_js`` the plotly.js bundle to inline,
    ``final=False`` marks the page as a snapshot of a running sweep, and ``ui_url`` is the MLflow UI its run
    links open (``table.ui_base``). The selection gap is this project's trials' (a foreign app has no test split).
    ``effect_notes``: what the hyperparameter effects could not show (too few trials, no default configuration).
    """
    import plotly.io as pio

    sections = [*(s for s in FRONT_SECTIONS if s[0] in figures), *SECTIONS, *effect_sections(figures)]
    nav = " ".join(f'<a href="#{a}">{_e(t)}</a>' for a, t, _ in sections) + ' <a href="#trials">All trials</a>'
    parts = [f"<h1>Sweep report: {_e(history.strategy)} sweep</h1>", _status(history, final), f"<nav>{nav}</nav>",
             ui_control(uri, ui_url), _summary(history), "<h2>Best trial</h2>", _best(history), _bounds(history)]
    if history.metric or gap is not None:
        parts += ["<h2>Selection gap</h2>", f"<p>{_e(gap_text(gap))}</p>"]
    for anchor, title, caption in sections:
        if anchor not in figures:
            continue
        div = pio.to_html(figures[anchor], full_html=False, include_plotlyjs=False, div_id=f"fig-{anchor}",
                          config={"displaylogo": False, "responsive": True},
                          post_script=OPEN_RUN_JS if anchor == "front" else None)
        extra = _importance(importance, note) if anchor == "importance" else ""
        if anchor == "effects":
            extra = "".join(f'<p class="caveat">{_e(n)}</p>' for n in effect_notes)
        after = _front_tables(history, ui_base(uri, ui_url)) if anchor == "front" else ""
        parts.append(f'<section id="{anchor}"><h2>{_e(title)}</h2><p class="note">{_e(caption)}</p>{extra}{div}'
                     f"{after}</section>")
    parts += ['<section id="trials"><h2>All trials</h2>', trials_table(history, uri, ui_url=ui_url), "</section>"]
    body = "\n".join(parts)
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Sweep {_e(history.parent_run_id)}</title>"
            f"<style>{STYLE}</style>\n<script>{plotly_js}</script>\n<script>{TABLE_JS}</script></head><body>\n"
            f"{body}\n</body></html>\n")


def gap_text(gap: SelectionGap | None) -> str:
    """The selection gap in plain words (which score came out better, by how much), for report and terminal."""
    if gap is None:
        return ("No held-out test score for the best trial (cv.refit=false, or no complete trial): the gap "
                "between its cross-validated and test scores is unknown.")
    std = f" +- {gap.cv_std:.4g}" if gap.cv_std is not None else ""
    text = (f"Best: {trial_run_name(gap.trial)}, cross-validated {gap.metric} {gap.cv_score:.4g}{std}, held-out test "
            f"{gap.test_score:.4g}. {_direction(gap.gap, 'The test score')}")
    if gap.optimism is not None:
        text += (f" Across the {gap.n_tested} complete trials with a test score, the median test score is "
                 f"{_amount(gap.median_gap)} than the CV score; ")
        text += (f"so {gap.optimism:.4g} of this trial's gap comes from having been chosen as the best."
                 if gap.optimism > 0 else "so having been chosen as the best added nothing beyond that typical gap.")
    return text


def _direction(value: float, subject: str) -> str:
    if value > 0:
        return f"{subject} is {value:.4g} worse than the CV score: the CV estimate was optimistic."
    if value < 0:
        return f"{subject} is {-value:.4g} better than the CV score: the CV estimate was pessimistic."
    return f"{subject} equals the CV score."


def _amount(value: float) -> str:
    return f"{value:.4g} worse" if value > 0 else f"{-value:.4g} better" if value < 0 else "no different"


def _status(history: SweepHistory, final: bool) -> str:
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    if final:
        return f'<p class="note">Written {when}, when the sweep ended ({_e(history.status.lower())}).</p>'
    return (f'<p class="note">Snapshot written {when} while the sweep runs; it is rewritten after every '
            "batch: reload the page to see the latest.</p>")


def _summary(history: SweepHistory) -> str:
    counts = ", ".join(f"{n} {s}" for s, n in history.counts().items() if n) or "no trials"
    planned = f" of {history.n_planned} planned" if history.n_planned else ""
    goal = [("objective", f"{history.label} ({history.direction})")]
    if history.multi:
        goal = [("objectives", ", ".join(f"{n} ({d})" for n, d in zip(history.goals.labels, history.goals.directions))),
                ("constraints", ", ".join(map(str, history.constraints)) or "none"),
                ("best selected by", str(history.selection))]
    rows = [("parent run", history.parent_run_id), ("status", history.status), *goal, ("trials", counts + planned),
            ("search space", json.dumps(history.space.to_grammar()))]
    return _table(None, rows)


def _best(history: SweepHistory) -> str:
    best = history.best
    if best is None:
        return "<p>No complete trial.</p>"
    std = f" +- {best.cv_std:.4g}" if best.cv_std is not None else ""
    test = history.test_score(best)
    scores = [(history.label, f"{best.value:.6g}{std}")] if not history.multi else list(
        zip(history.goals.labels, (f"{v:.6g}" for v in best.values or ())))
    rows = [("trial", trial_run_name(best.number)), ("run", best.run_id), *scores,
            *([(history.test_key, "not measured" if test is None else f"{test:.6g}")] if history.test_key else []),
            *[(k, v) for k, v in sorted(best.params.items())]]
    return _table(None, rows)


def _front_tables(history: SweepHistory, base: str) -> str:
    """Under the front's figure: its trials (each linked to its run) with their values and parameters, and the
    feasible/infeasible split with the constraints each infeasible trial broke."""
    from pipeline.results.insights.front import FRONT, INFEASIBLE, groups

    found, labels, params = groups(history), history.goals.labels, history.space.names
    best = history.best

    def link(r: TrialRow) -> str:
        name = trial_run_name(r.number)
        text = run_link(base, history.experiment_id, r.run_id, name) if r.run_id else _e(name)
        return text + (" (selected)" if best is not None and r.number == best.number else "")

    front = [[link(r), *(_e(_cell(v)) for v in r.values), *(_e(_cell(r.params.get(n))) for n in params)]
             for r in found[FRONT]]
    parts = [f'<h3 id="front-trials">The front: {len(front)} trial{"s" * (len(front) != 1)}</h3>',
             _html_table(["trial", *labels, *params], front) if front else "<p>No feasible complete trial yet.</p>"]
    n, bad = sum(map(len, found.values())), found[INFEASIBLE]
    if not history.constraints:
        parts.append(f'<p class="note" id="feasibility">No constraints: all {n} complete trials are feasible.</p>')
        return "".join(parts)
    parts.append(f'<h3 id="feasibility">Feasible and infeasible trials</h3><p>Constraints '
                 f"{_e(', '.join(map(str, history.constraints)))}: {n - len(bad)} feasible, {len(bad)} infeasible "
                 f"of {n} complete trials.</p>")
    if bad:
        rows = [[link(r), _e("; ".join(history.broken(r))), *(_e(_cell(v)) for v in r.values)] for r in bad]
        parts.append(_html_table(["trial", "broke", *labels], rows, "infeasible"))
    return "".join(parts)


def _html_table(columns: list[str], rows: list[list[str]], cls: str = "") -> str:
    """A table of cells that are HTML already (escaped, or links)."""
    head = "<tr>" + "".join(f"<th>{_e(c)}</th>" for c in columns) + "</tr>"
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    attr = f' class="{_e(cls)}"' if cls else ""
    return f"<table{attr}>{head}{body}</table>"


def _bounds(history: SweepHistory) -> str:
    notes = bound_notes(history)
    if not notes:
        return ""
    items = "".join(f"<li>{_e(n.text())}</li>" for n in notes)
    return f'<ul class="caveat" id="bounds">{items}</ul>'


def _importance(importance: Importance | None, note: str) -> str:
    """The method, the note (how many more trials are needed, or which values are uncertain), the table."""
    if importance is None:
        return f'<p class="caveat">{_e(note)}</p>'
    cls = "caveat" if importance.uncertain() else "note"
    rows = [(n, f"{v:.3f}", f"{s:.3f}", "spread exceeds the importance: uncertain" if s > v else "")
            for n, v, s in importance.ranked()]
    share = (f"Single parameters explain {importance.main_effects_share:.0%} of the surrogate's variance; "
             "the rest is interactions.")
    return (f'<p class="{cls}">{_e(note)}</p><p class="note">Method: {_e(importance.method)}. {share}</p>'
            + _table(["parameter", "importance", "spread across trees (std)", "caveat"], rows))


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
