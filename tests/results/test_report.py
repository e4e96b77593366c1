"""``write_report`` / ``generate_report`` / ``python -m pipeline.results.report`` on every shape of sweep a real store
can hold.

The sweeps are written by the project's own writers (``tests.results.insights.test_history.build_sweep``)
into one real SQLite store; the real-training case is in ``tests/test_registry.py``.
"""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

import mlflow
import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from pipeline.results.insights.html import EFFECT_SECTIONS, SECTIONS
from pipeline.results.insights.plots import slice_filename
from pipeline.results.report import generate_report, main, write_report
from tests.results.insights.test_history import (
    MIXED,
    SPACE,
    build_basic_sweep,
    build_resumed_sweep,
    build_sweep,
    trial,
)
from tests.results.insights.test_plots import FIXED_NAMES

REPORT_FILES = [*FIXED_NAMES, *(slice_filename(n) for n in SPACE), "report.html", "trials.csv", "importance.csv",
                "importance.json", "effects.json", "partial_dependence.csv", "pairs.csv", "ablation.csv"]
FINISHED = [trial(0.01, 32, value=0.90, test=0.88), trial(0.001, 16, value=0.80, test=0.79),
            trial(0.02, 64, value=0.93, test=0.90)]
KILLED = [*FINISHED[:2], trial(0.02, 64, "running")]  # SIGKILL mid-sweep: parent and last trial left RUNNING


def many_trials(n: int = 12) -> list[dict]:
    """``n`` complete trials whose accuracy is driven by the learning rate: enough to rank importance."""
    rng = np.random.default_rng(0)
    out = []
    for _ in range(n):
        lr, hidden = float(10 ** rng.uniform(-4, -1)), int(rng.choice([16, 32, 64]))
        acc = 0.95 - 0.1 * (np.log10(lr) + 2.5) ** 2 + 0.001 * rng.standard_normal()
        out.append(trial(lr, hidden, value=float(acc), test=float(acc - 0.01)))
    return out


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory, store_template):
    """One store holding each shape of sweep: ``{shape: (uri, parent run id)}``."""
    from tests.conftest import fresh_store

    tmp = tmp_path_factory.mktemp("report")
    uri = fresh_store(store_template, tmp / "store")
    return {"finished": (uri, build_sweep(uri, FINISHED)), "partly-failed": (uri, build_sweep(uri, MIXED)),
            "resumed": (uri, build_resumed_sweep(uri)), "killed": (uri, build_sweep(uri, KILLED, finish=False)),
            "basic": (uri, build_basic_sweep(uri, tmp / "basic")), "ranked": (uri, build_sweep(uri, many_trials())),
            "no-complete": (uri, build_sweep(uri, [trial(1e12, 16, "failed")])),
            "mid-sweep": (uri, build_sweep(uri, FINISHED, finish=False))}


@pytest.fixture(scope="module")
def reports(sweeps):
    """``generate_report`` of each shape but the basic sweep (the command line) and the mid-sweep one."""
    return {shape: generate_report(uri, pid) for shape, (uri, pid) in sweeps.items()
            if shape not in ("basic", "mid-sweep")}


@pytest.mark.parametrize("shape", ["finished", "partly-failed", "resumed", "killed", "no-complete", "ranked"])
def test_every_figure_and_the_report_reach_the_parent_run(shape, sweeps, reports):
    uri, pid = sweeps[shape]
    logged = sorted(Path(a.path).name for a in MlflowClient(uri).list_artifacts(pid, "report"))
    assert logged == sorted(REPORT_FILES)
    assert sorted(reports[shape]["artifacts"]) == sorted(f"report/{n}" for n in REPORT_FILES)
    assert MlflowClient(uri).get_run(pid).data.tags["report.html"] == "report/report.html"


@pytest.mark.parametrize("shape", ["partly-failed", "resumed", "ranked"])
def test_html_has_every_figure_and_loads_nothing(shape, sweeps, reports, tmp_path):
    uri, pid = sweeps[shape]
    path = mlflow.artifacts.download_artifacts(run_id=pid, artifact_path="report/report.html",
                                               tracking_uri=uri, dst_path=str(tmp_path))
    text = Path(path).read_text()
    for anchor, title, _ in SECTIONS:
        assert f'<section id="{anchor}"><h2>{title}</h2>' in text and f'"fig-{anchor}"' in text
    effects = [a for a, _, _ in EFFECT_SECTIONS if f'<section id="{a}">' in text]
    assert effects == ["effects", "pairs", "interactions", "ablation"]  # one objective: no per-objective importance
    assert text.count("Plotly.newPlot(") == len(SECTIONS) + len(effects) and '<section id="trials">' in text
    # offline: plotly.js is inlined, and nothing (script, style, image, frame) is fetched from anywhere
    assert len(text) > 3_000_000 and "<script>/**\n* plotly.js" in text
    assert not re.search(r"<(script|img|iframe|link|source|embed)\b[^>]*\b(src|href)\s*=", text, re.I)
    assert not re.search(r"@import|url\(\s*['\"]?https?:", text)
    links = re.findall(r'<a href="([^"]*)"', text.split('<section id="trials">', 1)[1])
    assert links and all(u.startswith("http://127.0.0.1:5000/#/experiments/") for u in links)
    children = MlflowClient(uri).search_runs([MlflowClient(uri).get_run(pid).info.experiment_id],
                                             f"tags.`mlflow.parentRunId` = '{pid}'")
    assert {u.rsplit("/", 1)[1] for u in links} == {r.info.run_id for r in children}
    for needle in ["fANOVA" if shape == "ranked" else "Not ranked", "Selection gap", "optimizer.lr",
                   {"partly-failed": "NonFiniteLossError", "resumed": "interrupted"}.get(shape, "complete"),
                   "Best trial"]:
        assert needle in text


def test_nothing_is_logged_as_a_metric_of_the_parent(sweeps, reports):
    """Importance and the gap are tags and artifacts: a value logged once is a one-point chart."""
    uri, pid = sweeps["ranked"]
    run = MlflowClient(uri).get_run(pid)
    assert not any(k.startswith(("importance", "selection", "best_cv", "best_test")) for k in run.data.metrics)
    tags = run.data.tags
    assert tags["importance.method"].startswith("fANOVA") and tags["importance.status"].startswith("Ranked from 12")
    assert float(tags["selection_gap"]) == pytest.approx(0.01) and "selection_gap.median" in tags
    assert reports["ranked"]["selection_gap"] == pytest.approx(0.01) and reports["ranked"]["tags"] == {
        k: v for k, v in tags.items() if k.startswith(("report.", "importance.", "selection_gap", "explain."))}


def test_importance_below_the_minimum_is_not_ranked(sweeps, reports, tmp_path):
    uri, pid = sweeps["partly-failed"]  # 4 complete trials, 2 parameters: 10 needed
    found = json.loads(Path(mlflow.artifacts.download_artifacts(
        run_id=pid, artifact_path="report/importance.json", tracking_uri=uri, dst_path=str(tmp_path))).read_text())
    assert found == {"status": "Not ranked: 4 complete trials, and 10 are needed for 2 parameters; 6 more complete "
                               "trials needed.", "complete_trials": 4, "min_trials": 10, "more_trials_needed": 6,
                     "ranked": []}
    assert reports["partly-failed"]["importance"] == {} and "importance.method" not in MlflowClient(
        uri).get_run(pid).data.tags


def test_importance_above_the_minimum_comes_with_its_spread(sweeps, reports, tmp_path):
    uri, pid = sweeps["ranked"]
    found = json.loads(Path(mlflow.artifacts.download_artifacts(
        run_id=pid, artifact_path="report/importance.json", tracking_uri=uri, dst_path=str(tmp_path))).read_text())
    assert found["complete_trials"] == 12 and found["more_trials_needed"] == 0
    first, second = found["ranked"]
    assert first["parameter"] == "optimizer.lr" and first["importance"] > first["std"] and not first["uncertain"]
    assert second["uncertain"] == (second["std"] > second["importance"])
    assert sum(r["importance"] for r in found["ranked"]) == pytest.approx(1.0)


def test_write_report_mid_sweep_writes_the_page_only_with_open_permissions(sweeps, tmp_path):
    uri, pid = sweeps["mid-sweep"]
    old = os.umask(0o077)  # as a locked-down shell would: the report must still be readable by others
    try:
        found = write_report(uri, pid, tmp_path / "sweep" / "report")
        write_report(uri, pid, tmp_path / "sweep" / "report")  # rewritten after the next batch
    finally:
        os.umask(old)
    folder = tmp_path / "sweep" / "report"
    assert found["artifacts"] == ["report/report.html"] and sorted(p.name for p in folder.iterdir()) == ["report.html"]
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755
    assert stat.S_IMODE((folder / "report.html").stat().st_mode) == 0o644
    assert "rewritten after every batch" in (folder / "report.html").read_text()
    run = MlflowClient(uri).get_run(pid)
    assert MlflowClient(uri).list_artifacts(pid, "report") == [] and "report.html" not in run.data.tags


def test_final_report_into_the_sweep_directory_is_readable(sweeps, tmp_path):
    uri, pid = sweeps["finished"]
    old = os.umask(0o077)
    try:
        generate_report(uri, pid, out_dir=tmp_path / "report")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "report").stat().st_mode) == 0o755
    assert sorted(p.name for p in (tmp_path / "report").iterdir()) == sorted(REPORT_FILES)
    assert {stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "report").iterdir()} == {0o644}


def test_cli_on_a_basic_sweep_says_how_many_more_trials_importance_needs(sweeps, capsys, tmp_path):
    uri, pid = sweeps["basic"]  # Hydra's basic sweeper: no recorded space, no test scores
    assert main([pid, "--tracking-uri", uri, "--out", str(tmp_path / "copy")]) == 0
    out = capsys.readouterr().out
    assert ("Hyperparameter importance: Not ranked: 3 complete trials, and 10 are needed for 2 parameters; "
            "7 more complete trials needed.") in out
    assert "Selection gap: No held-out test score" in out
    assert sorted(p.name for p in (tmp_path / "copy").iterdir()) == sorted(REPORT_FILES)
    logged = sorted(Path(a.path).name for a in MlflowClient(uri).list_artifacts(pid, "report"))
    assert logged == sorted(REPORT_FILES)  # the overrides it varied: optimizer.lr and model.hidden_dim


def test_terminal_summary_prints_each_importance_with_its_spread(sweeps, reports, capsys):
    uri, pid = sweeps["ranked"]
    generate_report(uri, pid)
    out = capsys.readouterr().out
    assert "Hyperparameter importance: Ranked from 12 complete trials" in out
    assert re.search(r"optimizer\.lr\s+\d\.\d{3}\s+\d\.\d{3}\n", out) and re.search(r"parameter\s+importance\s+spread",
                                                                                    out)


def test_terminal_summary_says_which_way_the_gap_went(sweeps, reports):
    from pipeline.results.insights.history import load_history, selection_gap
    from pipeline.results.report import summary_text

    history = load_history(*sweeps["finished"], top_k=0)
    text = summary_text(history, None, selection_gap(history))
    assert "Selection gap: Best: trial-002, cross-validated" in text
    assert "The test score is 0.03 worse than the CV score: the CV estimate was optimistic." in text
    assert "of this trial's gap comes from having been chosen as the best" in text


def test_cli_refuses_a_run_that_is_not_a_sweep(sweeps, capsys):
    uri, pid = sweeps["finished"]
    child = MlflowClient(uri).search_runs([MlflowClient(uri).get_run(pid).info.experiment_id],
                                          f"tags.`mlflow.parentRunId` = '{pid}'")[0]
    assert main([child.info.run_id, "--tracking-uri", uri]) == 2
    assert "not a sweep's parent run" in capsys.readouterr().err
