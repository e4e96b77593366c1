"""The trials table: links to each run in the MLflow UI, the full error of a failed trial, sort keys."""

from __future__ import annotations

import re

import pytest

from pipeline.results.insights.history import SweepHistory, TrialRow
from pipeline.results.insights.table import run_url, trials_table
from pipeline.search.space import FloatParam, SearchSpace

TRACE = "Traceback (most recent call last):\n  File \"x.py\", line 1\nValueError: data/mnist is missing <here>"


@pytest.mark.parametrize(("uri", "url"), [
    ("sqlite:////tmp/mlruns/mlflow.db", "http://127.0.0.1:5000/#/experiments/7/runs/abc"),
    ("http://host:5000/", "http://host:5000/#/experiments/7/runs/abc"),
    ("https://user:secret@mlflow.example.org/base", "https://mlflow.example.org/base/#/experiments/7/runs/abc"),
])
def test_run_url_points_at_the_ui_serving_the_store(uri, url):
    assert run_url(uri, "7", "abc") == url


def history() -> SweepHistory:
    rows = [TrialRow(0, "complete", 0.9, {"lr": 0.01}, run_id="r0", start_ms=1_700_000_000_000,
                     end_ms=1_700_000_012_500),
            TrialRow(1, "failed", None, {"lr": 0.1}, run_id="r1", error=TRACE, start_ms=1_700_000_001_000),
            TrialRow(2, "pruned", 0.5, {"lr": 1e-3}, run_id="r2", error="one line")]
    return SweepHistory("p", "7", "random", "maximize", "val_accuracy", SearchSpace((FloatParam("lr", 1e-4, 1.0),)),
                        rows)


def test_one_row_per_trial_with_its_link_state_and_sort_keys():
    page = trials_table(history(), "http://srv:5000")
    assert page.count("<tr data-state=") == 3 and 'data-state="failed" class="failed"' in page
    assert re.findall(r'href="([^"]+)"', page) == [f"http://srv:5000/#/experiments/7/runs/r{k}" for k in range(3)]
    heads = re.findall(r'title="sort">([^<]*)</th>', page)
    assert heads == ["trial", "state", "cv val_accuracy", "cv std", "test_accuracy", "lr", "started (UTC)",
                     "seconds", "run", "error"]
    assert '<td data-v="0.9">0.9</td>' in page and '<td data-v="12.5">12.5</td>' in page  # value, seconds
    assert '<td data-v="1700000000000">2023-11-14 22:13:20</td>' in page  # start sorts by time
    assert '<option value="failed">failed (1)</option>' in page and '<span id="trials-table-n">3 trials</span>' in page


def test_links_follow_the_ui_address_given():
    page = trials_table(history(), "sqlite:///x.db", ui_url="http://box:8080/")
    assert re.findall(r'href="([^"]+)"', page)[0] == "http://box:8080/#/experiments/7/runs/r0"
    assert re.findall(r'data-run="([^"]+)"', page)[0] == "#/experiments/7/runs/r0"  # the page's field rewrites


def test_a_failed_trials_full_error_is_in_the_table():
    page = trials_table(history(), "sqlite:///x.db")
    summary, full = re.search(r"<details><summary>(.*?)</summary><pre>(.*?)</pre></details>", page, re.S).groups()
    assert summary == "ValueError: data/mnist is missing &lt;here&gt;"  # the exception line, escaped
    assert full.replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">") == TRACE
    assert '<td class="error" title="tag error">one line</td>' in page
