"""The report's controls in a real browser (Debian's Chromium, headless, driven by Playwright): the trials table
filters by text and by state and sorts by any column, the run links follow the MLflow UI the reader gives (and
that of MLflow's artifact viewer, which shows the page in an ``about:srcdoc`` frame), every figure is drawn, and
the page raises no error. ``make test`` installs Chromium; without it (a machine where it cannot) this skips."""

from __future__ import annotations

import html
import http.server
import shutil
import threading
from functools import partial
from pathlib import Path

import pytest

from pipeline.results.insights.history import SweepHistory, TrialRow
from pipeline.results.insights.html import SECTIONS, render_html
from pipeline.results.insights.importance import importance_note, sweep_importance
from pipeline.results.report import _plotly_js, interactive_figures
from pipeline.search.space import SearchSpace
from tests.results.insights.test_front import FRONT_2, multi_history

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (make test installs it)")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
         "--no-first-run", "--disable-component-update", "--disable-sync"]
STATES = ["complete", "failed", "complete", "pruned", "complete", "complete", "failed", "complete", "complete"]
SPACE = SearchSpace.from_grammar({"optimizer.lr": "tag(log, interval(1e-4, 0.1))", "model.activation": "relu,tanh",
                                  "model.hidden_dim": "int(interval(16, 128))"})


def sweep() -> SweepHistory:
    rows = []
    for k, state in enumerate(STATES):
        params = {"optimizer.lr": 10 ** (-4 + 3 * k / 8), "model.activation": ["relu", "tanh"][k % 2],
                  "model.hidden_dim": 16 + 12 * k}
        value = None if state == "failed" else 0.7 + 0.03 * ((k * 5) % 9)
        rows.append(TrialRow(k, state, value, params, run_id=f"{k:02d}" + "ab" * 15, start_ms=1_700_000_000_000 +
                             k * 60_000, end_ms=1_700_000_030_000 + k * 60_000, curve=[(1, 0.5), (2, value or 0.6)],
                             error="ValueError: diverged" if state == "failed" else ""))
    return SweepHistory("parent", "3", "bayes", "maximize", "val_accuracy", SPACE, rows, step_key="cv/val_accuracy")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The report, and a page that shows it as MLflow's artifact viewer does (in an ``about:srcdoc`` frame),
    served on 127.0.0.1."""
    folder = tmp_path_factory.mktemp("report")
    h = sweep()
    importance = sweep_importance(h)
    note = importance_note(h, importance)
    curves = {r.number: r.curve for r in h.trials if r.curve}
    page = render_html(h, importance, None, interactive_figures(h, importance, curves, note),
                       "sqlite:////tmp/mlflow.db", note, _plotly_js())
    (folder / "report.html").write_text(page, encoding="utf-8")
    multi = multi_history()
    (folder / "front.html").write_text(render_html(multi, None, None, interactive_figures(multi, None, {}, note),
                                                   "sqlite:////tmp/mlflow.db", note, _plotly_js()), encoding="utf-8")
    (folder / "favicon.ico").write_bytes(b"")  # what a browser asks every server for
    viewer = folder / "ui" / "index.html"
    viewer.parent.mkdir()
    viewer.write_text(f'<html><body><iframe id="a" sandbox="allow-scripts" style="width:1400px;height:900px" '
                      f'srcdoc="{html.escape(page, quote=True)}"></iframe></body></html>', encoding="utf-8")
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, served):
    yield from _open(browser, f"{served}/report.html")


@pytest.fixture
def front_page(browser, served):
    """The report of a sweep with two objectives under a limit."""
    yield from _open(browser, f"{served}/front.html")


def _open(browser, url):
    context = browser.new_context()
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda e: errors.append(str(e)))
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    tab.goto(url)
    yield tab
    context.close()
    assert errors == [], errors


def visible_trials(tab) -> list[str]:
    return tab.eval_on_selector_all("#trials-table tbody tr", "rs => rs.filter(r => r.style.display !== 'none')"
                                    ".map(r => r.children[0].textContent)")


def hrefs(tab) -> list[str]:
    return tab.eval_on_selector_all("#trials-table a[data-run]", "as => as.map(a => a.href)")


def test_every_figure_is_drawn(page):
    page.wait_for_function(f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {len(SECTIONS)}")
    drawn = page.eval_on_selector_all(".js-plotly-plot", "ds => ds.map(d => d.id)")
    assert sorted(drawn) == sorted(f"fig-{a}" for a, _, _ in SECTIONS)


def test_the_front_is_drawn_hovered_and_a_click_opens_the_points_run(front_page):
    tab = front_page
    tab.wait_for_function("['fig-front','fig-hypervolume'].every(i => document.querySelector('#'+i+' .main-svg'))")
    tab.evaluate("window.open = (url) => { window.opened = url; return null }")
    front = tab.locator("#fig-front .scatterlayer .trace").nth(2).locator(".point")  # infeasible, feasible, front
    assert front.count() == len(FRONT_2)
    tab.locator("#fig-front").scroll_into_view_if_needed()
    box = front.first.bounding_box()
    tab.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, steps=3)
    tab.wait_for_selector("#fig-front .hoverlayer .hovertext")
    assert "trial-000" in tab.text_content("#fig-front .hoverlayer")
    tab.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    tab.wait_for_function("window.opened !== undefined")
    assert tab.evaluate("window.opened") == "http://127.0.0.1:5000/#/experiments/5/runs/run0"


def test_the_table_filters_by_text_and_by_state(page):
    assert len(visible_trials(page)) == len(STATES)
    page.fill("#trials-table-q", "tanh")
    assert visible_trials(page) == ["1", "3", "5", "7"]
    assert page.inner_text("#trials-table-n") == f"4 of {len(STATES)} trials"
    page.select_option("#trials-table-state", "failed")
    assert visible_trials(page) == ["1"]  # failed and tanh
    page.fill("#trials-table-q", "")
    assert visible_trials(page) == ["1", "6"]
    page.select_option("#trials-table-state", "")
    assert len(visible_trials(page)) == len(STATES)


def test_the_table_sorts_by_a_column_both_ways_numbers_as_numbers(page):
    column = page.locator("#trials-table th", has_text="model.hidden_dim")
    column.click()
    ascending = visible_trials(page)
    assert ascending == [str(k) for k in range(len(STATES))]  # 16 < 28 < ... < 112 (not as text: 100 < 28)
    column.click()
    assert visible_trials(page) == ascending[::-1]
    page.locator("#trials-table th", has_text="cv val_accuracy").click()
    values = page.eval_on_selector_all("#trials-table tbody tr", "rs => rs.map(r => r.children[2].textContent)")
    scored = [float(v) for v in values if v]
    assert scored == sorted(scored) and values[-2:] == ["", ""]  # the failed trials (no value) last


def test_run_links_follow_the_ui_address_the_reader_gives_and_keep_it(page, served):
    assert hrefs(page)[0] == f"http://127.0.0.1:5000/#/experiments/3/runs/00{'ab' * 15}"
    page.fill("#ui-url", "http://mlflow.lab:8080/")
    page.dispatch_event("#ui-url", "change")
    assert all(h.startswith("http://mlflow.lab:8080/#/experiments/3/runs/") for h in hrefs(page))
    page.reload()  # the browser remembers it for the next report too
    assert hrefs(page)[0].startswith("http://mlflow.lab:8080/#/experiments/3/runs/")
    page.fill("#ui-url", "not an address")
    page.dispatch_event("#ui-url", "change")
    assert hrefs(page)[0].startswith("http://mlflow.lab:8080/")  # a bad address changes nothing
    assert page.eval_on_selector("#ui-url", "f => f.validationMessage") != ""


def test_inside_mlflows_artifact_viewer_the_links_open_that_ui(browser, served):
    context = browser.new_context()
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda e: errors.append(str(e)))
    tab.goto(f"{served}/ui/")
    frame = tab.frame_locator("#a")
    first = frame.locator("#trials-table a[data-run]").first
    first.wait_for()
    assert first.get_attribute("href") == f"{served}/ui/#/experiments/3/runs/00{'ab' * 15}"
    frame.locator("#trials-table-q").fill("tanh")  # and the controls work in the sandboxed frame
    assert frame.locator("#trials-table-n").inner_text() == f"4 of {len(STATES)} trials"
    context.close()
    assert errors == []


def test_the_page_is_a_file_that_opens_offline(browser, served, tmp_path):
    import urllib.request

    path = Path(tmp_path, "report.html")
    path.write_bytes(urllib.request.urlopen(f"{served}/report.html").read())
    context = browser.new_context(offline=True)
    tab = context.new_page()
    tab.goto(path.as_uri())
    tab.wait_for_function("document.querySelectorAll('.js-plotly-plot .main-svg').length > 0")
    assert hrefs(tab)[0].startswith("http://127.0.0.1:5000/")
    context.close()
