"""The report of real multi-objective sweeps of a foreign Hydra app (ZDT1-like, under a size limit), as the sweep
itself writes it at its end: the front it draws is the one the sweeper recorded on the parent, infeasible trials
are those the sweeper tagged so, the hypervolume curve is the parent's metric; three objectives are parallel
coordinates."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import mlflow
import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from pipeline.results.insights import front as fr
from pipeline.tracking import names
from tests.conftest import fresh_store, sweep_runs

pytestmark = pytest.mark.slow
APP = '''
import math, hydra

@hydra.main(version_base="1.3", config_path=".", config_name="config")
def main(cfg):
    g = 1 + 9 * cfg.y
    return {"f1": cfg.x, "f2": g * (1 - math.sqrt(cfg.x / g)), "size": 100 * cfg.y}

if __name__ == "__main__":
    main()
'''
LIMIT = "size<=60"


def run_sweep(folder: Path, uri: str, objectives: str, directions: str, n_trials: int) -> str:
    """Run the app's sweep (random search, the report on) into ``uri``; returns its parent run's id."""
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text("x: 0.5\ny: 0.5\n")
    (folder / "app.py").write_text(textwrap.dedent(APP))
    proc = subprocess.run([sys.executable, "app.py", "-m", "hydra/sweeper=random", "x=interval(0,1)",
                           "y=interval(0,1)", f"hydra.sweeper.objective={objectives}",
                           f"hydra.sweeper.direction={directions}", f"hydra.sweeper.constraints=[{LIMIT!r}]",
                           f"hydra.sweeper.n_trials={n_trials}", f"hydra.sweep.dir={folder / 'multirun'}"],
                          cwd=folder, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "MLFLOW_TRACKING_URI": uri})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return sweep_runs(uri)[0].info.run_id


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory, store_template):
    """``{objectives: (uri, parent run id, report.html as logged)}`` for two objectives and for three."""
    out = {}
    for n, objectives, directions, n_trials in [(2, "[f1,f2]", "[minimize,minimize]", 12),
                                               (3, "[f1,f2,size]", "[minimize,minimize,maximize]", 6)]:
        tmp = tmp_path_factory.mktemp(f"front{n}")
        uri = fresh_store(store_template, tmp / "store")
        pid = run_sweep(tmp / "app", uri, objectives, directions, n_trials)
        page = Path(mlflow.artifacts.download_artifacts(run_id=pid, artifact_path="report/report.html",
                                                        tracking_uri=uri, dst_path=str(tmp / "dl"))).read_text()
        out[n] = (uri, pid, page)
    return out


def plotted(page: str, anchor: str) -> tuple[list[dict], dict]:
    """The data and layout of the page's figure ``fig-<anchor>``, as the page hands them to plotly.js."""
    start = re.search(rf'Plotly\.newPlot\(\s*"fig-{anchor}",\s*', page).end()
    decoder = json.JSONDecoder()
    data, end = decoder.raw_decode(page, start)
    layout, _ = decoder.raw_decode(page, end + len(re.match(r",\s*", page[end:]).group(0)))
    return data, layout


def trial_numbers(trace: dict) -> list[int]:
    return sorted(int(re.match(r"<b>trial-(\d+)</b>", t).group(1)) for t in trace["text"])


def test_two_objectives_draw_the_recorded_front_and_the_infeasible_trials_apart(sweeps):
    uri, pid, page = sweeps[2]
    tags = MlflowClient(uri).get_run(pid).data.tags
    data, layout = plotted(page, "front")
    found = {t["name"].split(":")[0]: t for t in data}
    recorded = json.loads(tags[names.FRONT_TRIALS_TAG])
    assert recorded and trial_numbers(found[fr.FRONT]) == sorted(recorded)
    assert found[fr.FRONT]["line"]["shape"] == "hv"
    infeasible = sorted(int(c.data.tags[names.TRIAL_NUMBER_TAG]) for c in sweep_runs(uri)[1]
                        if c.data.tags.get(names.FEASIBLE_TAG) == "false")
    assert infeasible, "the sweep should break the limit at least once (12 random trials, size <= 60 of 100)"
    assert trial_numbers(found[fr.INFEASIBLE]) == infeasible
    assert found[fr.INFEASIBLE]["marker"]["symbol"] == "circle-open"
    assert layout["xaxis"]["title"]["text"] == "f1 (minimize)"
    runs = {c.info.run_id: int(c.data.tags[names.TRIAL_NUMBER_TAG]) for c in sweep_runs(uri)[1]}
    paths = [re.fullmatch(r"#/experiments/\d+/runs/(\w+)", p).group(1) for p in found[fr.FRONT]["customdata"]]
    assert sorted(runs[r] for r in paths) == sorted(recorded)  # a click opens each point's own run
    split = page.split('id="feasibility"', 1)[1].split("</section>", 1)[0]
    assert f"{len(infeasible)} infeasible" in split and split.count(f"{LIMIT.replace('<', '&lt;')} (size=") == len(
        infeasible)


def test_the_hypervolume_curve_is_the_parents_metric_never_falling_against_its_reference_point(sweeps):
    uri, pid, page = sweeps[2]
    client = MlflowClient(uri)
    history = sorted((m.step, m.value) for m in client.get_metric_history(pid, names.HYPERVOLUME))
    (trace,), layout = plotted(page, "hypervolume")
    assert trace["x"] == [s for s, _ in history] == list(range(12))
    assert trace["y"] == pytest.approx([v for _, v in history])
    assert np.all(np.diff(trace["y"]) >= 0) and trace["y"][-1] > 0
    ref = json.loads(client.get_run(pid).data.tags[names.REFERENCE_POINT_TAG])
    assert f"(f1={ref[0]:.4g}, f2={ref[1]:.4g})" in layout["title"]["text"]


def test_three_objectives_are_parallel_coordinates_with_the_recorded_front_highlighted(sweeps):
    uri, pid, page = sweeps[3]
    (par,), _ = plotted(page, "front")
    assert par["type"] == "parcoords"
    assert [d["label"] for d in par["dimensions"]] == ["trial", "f1 (minimize)", "f2 (minimize)", "size (maximize)"]
    numbers, codes = par["dimensions"][0]["values"], par["line"]["color"]
    front = sorted(n for n, c in zip(numbers, codes) if c == fr.GROUP_CODE[fr.FRONT])
    assert front == sorted(json.loads(MlflowClient(uri).get_run(pid).data.tags[names.FRONT_TRIALS_TAG]))


def test_the_static_figures_reach_the_parent_run(sweeps):
    for uri, pid, _ in sweeps.values():
        logged = {Path(a.path).name for a in MlflowClient(uri).list_artifacts(pid, "report")}
        assert {"pareto_front.png", "hypervolume.png"} <= logged
