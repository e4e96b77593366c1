"""The HTML report: every figure in its section, nothing loaded, escaped, gap and best trial told right."""

from __future__ import annotations

import re

import pytest

from pipeline.results.insights import figures
from pipeline.results.insights.history import SelectionGap, SweepHistory, TrialRow, selection_gap
from pipeline.results.insights.html import SECTIONS, gap_text, render_html
from pipeline.results.insights.importance import importance_note
from pipeline.results.report import interactive_figures
from pipeline.search.space import CategoricalParam, FloatParam, SearchSpace

NASTY_NAME = 'a<b&"c"'
NASTY_VALUE = "<script>alert('x')</script> & \"co\""
SPACE = SearchSpace((FloatParam("optimizer.lr", 1e-4, 1e-1, log=True),
                     CategoricalParam(NASTY_NAME, (NASTY_VALUE, "plain"))))


def history(metric="val_accuracy", tests=True, direction="maximize", states=("complete",) * 4):
    rows = []
    for k, state in enumerate(states):
        value = 0.6 + 0.1 * k if state == "complete" else None
        params = {"optimizer.lr": 10.0 ** (-4 + k * 0.5), NASTY_NAME: [NASTY_VALUE, "plain"][k % 2]}
        rows.append(TrialRow(k, state, value, params, run_id=f"run{k}", cv_std=0.01 * (k + 1),
                             tests={"test_accuracy": 0.55 + 0.1 * k, "test_loss": 0.3} if tests else {},
                             error="boom <&>" if state == "failed" else ""))
    return SweepHistory("parent<1>", "0", "random", direction, metric, SPACE, rows)


URI = "sqlite:////tmp/store/mlflow.db"
JS = "/* plotly.js */"


def page_of(h, importance=None, gap=None, figures=None, final=True):
    note = importance_note(h, importance)
    figs = interactive_figures(h, importance, {}, note) if figures is None else figures
    return render_html(h, importance, gap, figs, URI, note, JS, final)


def section(page, title):
    """The HTML between ``<h2>title</h2>`` and the next heading."""
    return page.split(f"<h2>{title}</h2>", 1)[1].split("<h2>", 1)[0]


def test_every_figure_has_its_section_and_nothing_is_loaded():
    page = page_of(history())
    for anchor, title, _ in SECTIONS:
        assert f'<section id="{anchor}"><h2>{title}</h2>' in page
        assert f'id="fig-{anchor}"' in page and f'Plotly.newPlot(                        "fig-{anchor}"' in page
    assert page.count("Plotly.newPlot(") == len(SECTIONS)
    assert page.count(JS) == 1  # plotly.js inlined once, before any figure
    assert page.index(JS) < page.index("Plotly.newPlot(")
    assert not re.search(r"<(script|img|iframe)[^>]*\bsrc=", page, re.I)
    assert not re.search(r"<link\b", page, re.I) and "@import" not in page
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")


def test_a_missing_figure_is_skipped():
    h = history()
    page = page_of(h, figures={"history": figures.history_figure(h)})
    assert page.count("Plotly.newPlot(") == 1 and '<section id="contour">' not in page


def test_snapshot_says_it_is_rewritten_while_the_sweep_runs():
    assert "rewritten after every batch" in page_of(history(), final=False)
    assert "when the sweep ended (finished)" in page_of(history())


def test_names_and_values_are_escaped():
    page = page_of(history(states=("complete", "failed", "complete")))
    html_part = re.sub(r"<script.*?</script>", "", page, flags=re.S)  # figures carry names as JSON
    assert "<script>alert" not in html_part and NASTY_NAME not in html_part
    escaped_value = "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;co&quot;"
    assert escaped_value in section(page, "Best trial") and escaped_value in section(page, "All trials")
    assert "<td>a&lt;b&amp;&quot;c&quot;</td>" in section(page, "Best trial")  # the parameter name
    assert ">a&lt;b&amp;&quot;c&quot;</th>" in section(page, "All trials")
    assert "<title>Sweep parent&lt;1&gt;</title>" in page
    assert 'title="tag error">boom &lt;&amp;&gt;</td>' in section(page, "All trials")  # a failed trial's error
    assert "<script>alert" not in page and "\\u003cscript\\u003ealert" in page  # plotly's JSON escapes "<"


def test_gap_text_without_a_gap():
    text = gap_text(None)
    assert "No held-out test score" in text and "unknown" in text


def test_gap_text_says_which_way_the_gap_went():
    gap = SelectionGap(trial=3, metric="val_accuracy", cv_score=0.9, cv_std=0.012, test_score=0.85, gap=0.05,
                       median_gap=None, n_tested=1)
    assert gap_text(gap) == ("Best: trial-003, cross-validated val_accuracy 0.9 +- 0.012, held-out test 0.85. The test "
                             "score is 0.05 worse than the CV score: the CV estimate was optimistic.")
    # the case of the issue: a slightly better test score was called "positive: optimistic"
    better = gap_text(SelectionGap(3, "val_accuracy", 0.9, None, 0.902859, -0.002859, None, 1))
    assert "+-" not in better and "optimistic" not in better
    assert better.endswith("The test score is 0.002859 better than the CV score: the CV estimate was pessimistic.")
    loss = gap_text(SelectionGap(3, "val_loss", 0.2, None, 0.25, 0.05, None, 1))
    assert "val_loss 0.2, held-out test 0.25. The test score is 0.05 worse" in loss


def test_gap_text_with_a_median_baseline():
    gap = SelectionGap(trial=2, metric="val_accuracy", cv_score=0.9, cv_std=None, test_score=0.86, gap=0.04,
                       median_gap=0.01, n_tested=5)
    assert gap_text(gap).endswith(" Across the 5 complete trials with a test score, the median test score is "
                                  "0.01 worse than the CV score; so 0.03 of this trial's gap comes from having "
                                  "been chosen as the best.")
    pessimistic = gap_text(SelectionGap(2, "val_accuracy", 0.8, None, 0.83, -0.03, 0.02, 4))
    assert "is 0.03 better than the CV score" in pessimistic and "median test score is 0.02 worse" in pessimistic
    assert pessimistic.endswith("so having been chosen as the best added nothing beyond that typical gap.")


def test_report_states_the_sweeps_gap():
    h = history()  # maximize: the best is trial 3, cv 0.9 against test 0.85
    gap = section(page_of(h, gap=selection_gap(h)), "Selection gap")
    assert "Best: trial-003, cross-validated val_accuracy 0.9 +- 0.04, held-out test 0.85. The test score is 0.05 " \
           "worse than the CV score" in gap
    assert "Across the 4 complete trials" in gap
    assert "No held-out test score" in section(page_of(h), "Selection gap")


@pytest.mark.parametrize(("metric", "tests", "row"), [
    ("val_accuracy", True, "<tr><td>test_accuracy</td><td>0.85</td></tr>"),
    ("val_loss", True, "<tr><td>test_loss</td><td>0.3</td></tr>"),
    ("val_accuracy", False, "<tr><td>test_accuracy</td><td>not measured</td></tr>"),
])
def test_best_trial_shows_the_matching_test_score(metric, tests, row):
    h = history(metric=metric, tests=tests, direction="maximize")
    best = section(page_of(h), "Best trial")
    assert row in best
    assert best.count("<td>test_") == 1 and best.count("<tr>") == 4 + SPACE.dim
    assert "<tr><td>run</td><td>run3</td></tr>" in best
    assert f"<tr><td>cv {metric}</td><td>0.9 +- 0.04</td></tr>" in best


def test_no_test_row_without_a_test_key():
    h = history(metric=None)  # a foreign app: no known cv.metric, so no matching test score
    page = page_of(h)
    best = section(page, "Best trial")
    assert "test_" not in best and "not measured" not in best
    assert best.count("<tr>") == 3 + SPACE.dim  # trial, run, objective, then the parameters
    assert "<tr><td>objective</td><td>0.9 +- 0.04</td></tr>" in best
    assert "test_accuracy" not in section(page, "All trials")
    assert 'title="sort">test_accuracy</th>' in section(page_of(history()), "All trials")


def test_best_follows_the_direction():
    best = section(page_of(history(direction="minimize")), "Best trial")
    assert "<tr><td>trial</td><td>trial-000</td></tr>" in best and "<td>0.55</td>" in best


def test_without_complete_trials_or_importance():
    page = page_of(history(states=("failed", "running")))
    assert "No complete trial." in section(page, "Best trial")
    assert "Not ranked: 0 complete trials, and 10 are needed for 2 parameters; 10 more complete trials needed." \
        in section(page, "Hyperparameter importance")
    assert page.count("<tr><td>") >= 2  # the two trials are still listed


def test_every_id_of_the_page_is_unique():
    ids = re.findall(r'\bid="([^"]+)"', page_of(history()))
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


def test_a_foreign_apps_report_has_no_selection_gap():
    assert "<h2>Selection gap</h2>" not in page_of(history(metric=None, tests=False))
    assert "<h2>Selection gap</h2>" in page_of(history(tests=False))  # this project's, cv.refit=false: said why


def test_a_best_value_on_a_bound_is_noted_with_the_range():
    from pipeline.results.insights.history import bound_notes

    h = history()  # the best trial (3) has optimizer.lr = 10 ** -2.5, inside [1e-4, 0.1]
    assert bound_notes(h) == [] and 'id="bounds"' not in page_of(h)
    h.trials[3].params["optimizer.lr"] = 0.1
    h.trials[2].params["optimizer.lr"] = 0.099
    assert bound_notes(h) == []  # half the best trials on the bound: chance
    h.trials[1].params["optimizer.lr"] = 0.0995
    [note] = bound_notes(h)
    assert (note.name, note.side, note.n_top, note.of_top) == ("optimizer.lr", "upper", 3, 4)
    assert "upper bound of its range [0.0001, 0.1]" in note.text() and "widen" in note.text()
    assert note.text().replace("'", "&#x27;") in section(page_of(h), "Best trial")
