"""The HTML report: self-contained (figures inline, no links), escaped, gap and best trial told right."""

from __future__ import annotations

import base64
import re

import pytest
from matplotlib.figure import Figure

from pipeline.insights.history import SelectionGap, SweepHistory, TrialRow, selection_gap
from pipeline.insights.html import gap_text, render_html
from pipeline.insights.plots import write_figures
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


def png(path, color="red"):
    fig = Figure(figsize=(1, 1))
    fig.add_subplot().plot([0, 1], [1, 0], color=color)
    fig.savefig(path, dpi=20)
    return path


def section(page, title):
    """The HTML between ``<h2>title</h2>`` and the next heading."""
    return page.split(f"<h2>{title}</h2>", 1)[1].split("<h2>", 1)[0]


def test_figures_are_embedded_and_nothing_is_linked(tmp_path):
    figures = {"optimization_history.png": png(tmp_path / "a.png"),
               "slice_optimizer.lr.png": png(tmp_path / "b.png", "blue")}
    page = render_html(history(), None, None, figures)
    srcs = re.findall(r'<img[^>]*\bsrc="([^"]*)"', page)
    assert len(srcs) == 2
    for src, path in zip(srcs, figures.values()):
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]) == path.read_bytes()
    assert "http://" not in page and "https://" not in page
    assert "<script" not in page.lower() and "<link" not in page.lower()
    assert not re.search(r'(?:src|href)="(?!data:)', page)  # no other resource is referenced
    assert "Optimization history: each trial&#x27;s objective" in page
    assert "Slice: the objective against optimizer.lr." in page
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")


def test_figures_written_by_write_figures_are_all_embedded(tmp_path):
    h = history()
    figures = write_figures(h, None, tmp_path / "figs")
    page = render_html(h, None, selection_gap(h), figures)
    embedded = {base64.b64decode(s) for s in re.findall(r'src="data:image/png;base64,([^"]*)"', page)}
    assert embedded == {p.read_bytes() for p in figures.values()}
    assert page.count("<figure>") == len(figures)


def test_names_and_values_are_escaped(tmp_path):
    page = render_html(history(states=("complete", "failed", "complete")), None, None,
                       {"slice_a_b__c_.png": png(tmp_path / "a.png")})
    assert "<script>" not in page and NASTY_NAME not in page
    escaped_value = "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;co&quot;"
    assert escaped_value in section(page, "Best trial") and escaped_value in section(page, "All trials")
    assert "<td>a&lt;b&amp;&quot;c&quot;</td>" in section(page, "Best trial")  # the parameter name
    assert "<th>a&lt;b&amp;&quot;c&quot;</th>" in section(page, "All trials")
    assert "<title>Sweep parent&lt;1&gt;</title>" in page
    assert "<td>boom &lt;&amp;&gt;</td>" in section(page, "All trials")  # a failed trial's error
    # every tag in the page is one the report writes itself
    tags = set(re.findall(r"</?([a-zA-Z0-9!]+)", page))
    assert tags <= {"!DOCTYPE", "html", "head", "meta", "title", "style", "body", "h1", "h2", "p", "table",
                    "tr", "th", "td", "figure", "img", "figcaption"}


def test_gap_text_without_a_gap():
    text = gap_text(None)
    assert "No held-out test score" in text and "unknown" in text


def test_gap_text_without_a_median_baseline():
    gap = SelectionGap(trial=3, metric="val_accuracy", cv_score=0.9, cv_std=0.012, test_score=0.85, gap=0.05,
                       median_gap=None, n_tested=1)
    text = gap_text(gap)
    assert text == ("Best trial 3: cross-validated val_accuracy 0.9 +- 0.012, held-out test 0.85; gap +0.05 "
                    "(positive: the CV score was optimistic).")
    no_std = gap_text(SelectionGap(3, "val_loss", 0.2, None, 0.25, 0.05, None, 1))
    assert "+-" not in no_std and "val_loss 0.2, held-out test 0.25; gap +0.05" in no_std


def test_gap_text_with_a_median_baseline():
    gap = SelectionGap(trial=2, metric="val_accuracy", cv_score=0.9, cv_std=None, test_score=0.86, gap=0.04,
                       median_gap=0.01, n_tested=5)
    text = gap_text(gap)
    assert text.startswith("Best trial 2: cross-validated val_accuracy 0.9, held-out test 0.86; gap +0.04")
    assert text.endswith(" The median gap over the 5 complete trials with a test score is +0.01, "
                         "so selection adds +0.03.")
    pessimistic = gap_text(SelectionGap(2, "val_accuracy", 0.8, None, 0.83, -0.03, 0.02, 4))
    assert "gap -0.03" in pessimistic and "is +0.02, so selection adds -0.05." in pessimistic


def test_report_states_the_sweeps_gap(tmp_path):
    h = history()  # maximize: the best is trial 3, cv 0.9 against test 0.85
    page = render_html(h, None, selection_gap(h), {})
    gap = section(page, "Selection gap")
    assert "Best trial 3: cross-validated val_accuracy 0.9 +- 0.04, held-out test 0.85; gap +0.05" in gap
    assert "The median gap over the 4 complete trials" in gap
    assert "No held-out test score" in section(render_html(h, None, None, {}), "Selection gap")


@pytest.mark.parametrize(("metric", "tests", "row"), [
    ("val_accuracy", True, "<tr><td>test_accuracy</td><td>0.85</td></tr>"),
    ("val_loss", True, "<tr><td>test_loss</td><td>0.3</td></tr>"),
    ("val_accuracy", False, "<tr><td>test_accuracy</td><td>not measured</td></tr>"),
])
def test_best_trial_shows_the_matching_test_score(metric, tests, row):
    h = history(metric=metric, tests=tests, direction="maximize")
    best = section(render_html(h, None, None, {}), "Best trial")
    assert row in best
    assert best.count("<td>test_") == 1 and best.count("<tr>") == 4 + SPACE.dim
    assert "<tr><td>run</td><td>run3</td></tr>" in best
    assert f"<tr><td>cv {metric}</td><td>0.9 +- 0.04</td></tr>" in best


def test_no_test_row_without_a_test_key():
    h = history(metric=None)  # a foreign app: no known cv.metric, so no matching test score
    page = render_html(h, None, None, {})
    best = section(page, "Best trial")
    assert "test_" not in best and "not measured" not in best
    assert best.count("<tr>") == 3 + SPACE.dim  # trial, run, objective, then the parameters
    assert "<tr><td>objective</td><td>0.9 +- 0.04</td></tr>" in best
    assert "test_accuracy" not in section(page, "All trials")
    assert "<th>test_accuracy</th>" in section(render_html(history(), None, None, {}), "All trials")


def test_best_follows_the_direction():
    best = section(render_html(history(direction="minimize"), None, None, {}), "Best trial")
    assert "<tr><td>trial</td><td>0</td></tr>" in best and "<td>0.55</td>" in best


def test_without_complete_trials_or_importance():
    page = render_html(history(states=("failed", "running")), None, None, {})
    assert "No complete trial." in section(page, "Best trial")
    assert "Too few complete trials" in section(page, "Hyperparameter importance")
    assert page.count("<tr><td>") >= 2  # the two trials are still listed
