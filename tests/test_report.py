"""``generate_report`` / ``python -m pipeline.report`` on every shape of sweep a real store can hold.

The sweeps are written by the project's own writers (``tests.insights.test_history.build_sweep``)
into one real SQLite store; the real-training case is in ``tests/test_registry.py``.
"""

from __future__ import annotations

import re
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from pipeline.insights.plots import slice_filename
from pipeline.report import generate_report, main
from tests.insights.test_history import (
    MIXED,
    SPACE,
    build_basic_sweep,
    build_resumed_sweep,
    build_sweep,
    trial,
)
from tests.insights.test_plots import FIXED_NAMES

REPORT_FILES = [*FIXED_NAMES, *(slice_filename(n) for n in SPACE), "report.html", "trials.csv", "importance.csv"]
FINISHED = [trial(0.01, 32, value=0.90, test=0.88), trial(0.001, 16, value=0.80, test=0.79),
            trial(0.02, 64, value=0.93, test=0.90)]
KILLED = [*FINISHED[:2], trial(0.02, 64, "running")]  # SIGKILL mid-sweep: parent and last trial left RUNNING


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory, store_template):
    """One store holding each shape of sweep: ``{shape: (uri, parent run id)}``."""
    from tests.conftest import fresh_store

    tmp = tmp_path_factory.mktemp("report")
    uri = fresh_store(store_template, tmp / "store")
    return {"finished": (uri, build_sweep(uri, FINISHED)), "partly-failed": (uri, build_sweep(uri, MIXED)),
            "resumed": (uri, build_resumed_sweep(uri)), "killed": (uri, build_sweep(uri, KILLED, finish=False)),
            "basic": (uri, build_basic_sweep(uri, tmp / "basic")),
            "no-complete": (uri, build_sweep(uri, [trial(1e12, 16, "failed")]))}


@pytest.fixture(scope="module")
def reports(sweeps):
    """``generate_report`` of each shape but the basic sweep, which goes through the command line."""
    return {shape: generate_report(uri, pid) for shape, (uri, pid) in sweeps.items() if shape != "basic"}


@pytest.mark.parametrize("shape", ["finished", "partly-failed", "resumed", "killed", "no-complete"])
def test_every_figure_and_the_report_reach_the_parent_run(shape, sweeps, reports):
    uri, pid = sweeps[shape]
    logged = sorted(Path(a.path).name for a in MlflowClient(uri).list_artifacts(pid, "report"))
    assert logged == sorted(REPORT_FILES)
    assert reports[shape]["artifacts"] == [f"report/{n}" for n in REPORT_FILES]
    assert MlflowClient(uri).get_run(pid).data.tags["report.html"] == "report/report.html"




@pytest.mark.parametrize("shape", ["partly-failed", "resumed"])
def test_html_is_self_contained(shape, sweeps, tmp_path):
    uri, pid = sweeps[shape]
    path = mlflow.artifacts.download_artifacts(run_id=pid, artifact_path="report/report.html",
                                               tracking_uri=uri, dst_path=str(tmp_path))
    text = Path(path).read_text()
    assert not re.search(r"(src|href)=\"(?!data:)", text) and "http:" not in text and "https:" not in text
    assert text.count("<img ") == text.count('src="data:image/png;base64,') == len(FIXED_NAMES) + len(SPACE)
    for needle in ["fANOVA", "Selection gap", "optimizer.lr", "NonFiniteLossError" if shape != "resumed" else
                   "interrupted", "Best trial"]:
        assert needle in text


def test_importance_and_selection_gap_are_metrics_of_the_parent(sweeps, reports):
    uri, pid = sweeps["partly-failed"]
    run = MlflowClient(uri).get_run(pid)
    m = run.data.metrics
    assert m["importance/optimizer.lr"] + m["importance/model.hidden_dim"] == pytest.approx(1.0)
    assert m["selection_gap"] == pytest.approx(0.93 - 0.89) and m["best_test_score"] == 0.89
    assert m["selection_gap_median"] == pytest.approx(0.015) and m["selection_optimism"] == pytest.approx(0.025)
    assert run.data.tags["importance.method"].startswith("fANOVA")
    assert reports["partly-failed"]["best_trial"] == 4 and reports["partly-failed"]["selection_gap"] == m[
        "selection_gap"]


def test_no_complete_trial_logs_no_importance_or_gap(sweeps, reports):
    uri, pid = sweeps["no-complete"]
    metrics = MlflowClient(uri).get_run(pid).data.metrics
    assert not any(k.startswith(("importance/", "selection")) for k in metrics)
    assert reports["no-complete"]["importance"] == {} and reports["no-complete"]["selection_gap"] is None


def test_cli_on_a_basic_sweep_prints_the_importance_table(sweeps, capsys, tmp_path):
    uri, pid = sweeps["basic"]  # Hydra's basic sweeper: no recorded space, no test scores
    assert main([pid, "--tracking-uri", uri, "--out", str(tmp_path / "copy")]) == 0
    out = capsys.readouterr().out
    assert "Hyperparameter importance (fANOVA main effects" in out and "3 trials" in out
    assert re.search(r"optimizer\.lr\s+\d\.\d{3}\s+\d\.\d{3}", out) and "model.hidden_dim" in out
    assert "Selection gap: No held-out test score" in out
    assert sorted(p.name for p in (tmp_path / "copy").iterdir()) == sorted(REPORT_FILES)
    logged = sorted(Path(a.path).name for a in MlflowClient(uri).list_artifacts(pid, "report"))
    assert logged == sorted(REPORT_FILES)  # the overrides it varied: optimizer.lr and model.hidden_dim


def test_terminal_summary_names_the_gap(sweeps, reports, capsys):
    from pipeline.insights.history import load_history, selection_gap
    from pipeline.report import summary_text

    history = load_history(*sweeps["finished"], top_k=0)
    text = summary_text(history, None, selection_gap(history))
    assert "Selection gap: Best trial 2" in text and "gap +0.03" in text and "selection adds" in text


def test_cli_refuses_a_run_that_is_not_a_sweep(sweeps, capsys):
    uri, pid = sweeps["finished"]
    child = MlflowClient(uri).search_runs([MlflowClient(uri).get_run(pid).info.experiment_id],
                                          f"tags.`mlflow.parentRunId` = '{pid}'")[0]
    assert main([child.info.run_id, "--tracking-uri", uri]) == 2
    assert "not a sweep's parent run" in capsys.readouterr().err
