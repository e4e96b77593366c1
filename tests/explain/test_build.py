"""End to end: ``python -m pipeline.explain`` on real logged trials (ours and a plug-in's from outside the repository),
the sweep's report with how each hyperparameter acted, and the best model explained and attached to its version."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import ROOT, TINY, fresh_store, mlflow_runs, run_train, sweep_runs

pytestmark = pytest.mark.slow

# A foreign app whose objective depends on known hyperparameters: strongly on lr (log scale, best at 10^-2.5), a
# little on the optimizer, not at all on noise. Its own config is the default configuration the ablation starts at.
APP = '''
import math, hydra

@hydra.main(version_base="1.3", config_path=".", config_name="config")
def main(cfg):
    return (math.log10(cfg.lr) + 2.5) ** 2 + (0.3 if cfg.opt == "sgd" else 0.0) + 0.0 * cfg.noise

if __name__ == "__main__":
    main()
'''


def explain(uri: str, run_id: str, *args: str, cwd: Path = ROOT, env: dict | None = None
            ) -> subprocess.CompletedProcess:
    import os

    full = {**{k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}, **(env or {})}
    return subprocess.run([sys.executable, "-m", "pipeline.explain", run_id, "--tracking-uri", uri, *args], cwd=cwd,
                          env=full, capture_output=True, text=True, timeout=600)


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def artifact(client: MlflowClient, run_id: str, path: str, tmp: Path) -> str:
    return Path(client.download_artifacts(run_id, path, str(tmp))).read_text()


def test_the_report_shows_which_hyperparameter_acts_and_the_path_from_the_apps_defaults(tmp_path, store_template):
    uri = fresh_store(store_template, tmp_path / "store")
    folder = tmp_path / "app"
    folder.mkdir()
    (folder / "config.yaml").write_text("lr: 0.1\nopt: sgd\nnoise: 0.5\n")
    (folder / "app.py").write_text(textwrap.dedent(APP))
    proc = subprocess.run([sys.executable, "app.py", "-m", "hydra/sweeper=bayes", "lr=tag(log,interval(1e-4,1))",
                           "opt=sgd,adam", "noise=interval(0,1)", "hydra.sweeper.n_trials=16",
                           "hydra.sweeper.n_initial=8", f"hydra.sweep.dir={folder / 'multirun'}"],
                          cwd=folder, capture_output=True, text=True, timeout=600,
                          env={**__import__("os").environ, "MLFLOW_TRACKING_URI": uri})
    assert proc.returncode == 0, proc.stderr[-3000:]
    parent, children = sweep_runs(uri)
    assert json.loads(parent.data.tags["sweep.defaults"]) == {"lr": 0.1, "opt": "sgd", "noise": 0.5}
    client = MlflowClient(uri)
    dependence = rows(artifact(client, parent.info.run_id, "report/partial_dependence.csv", tmp_path))

    def span(name: str) -> float:
        means = [float(r["mean"]) for r in dependence if r["parameter"] == name]
        return max(means) - min(means)

    assert span("lr") > 5 * span("noise") and span("lr") > 1.0  # the truth: lr spans ~6, noise nothing
    lr = sorted((float(r["value"]), float(r["mean"])) for r in dependence if r["parameter"] == "lr")
    assert 10 ** -4 <= min(lr, key=lambda t: t[1])[0] <= 10 ** -1  # its best region, not the edges of the range
    sgd, adam = (float(r["mean"]) for name in ("sgd", "adam") for r in dependence
                 if r["parameter"] == "opt" and r["value"] == name)
    assert adam < sgd  # adam is 0.3 better everywhere
    path = rows(artifact(client, parent.info.run_id, "report/ablation.csv", tmp_path))
    assert path[0]["source"] in ("measured", "predicted") and "default" in path[0]["parameter"]
    assert path[-1]["source"] == "measured" and int(path[-1]["trial"]) == int(parent.data.tags["best.trial"])
    gains = {r["parameter"]: float(r["gain"]) for r in path[1:]}
    assert max(gains, key=gains.get) == "lr"  # the change that bought most
    page = artifact(client, parent.info.run_id, "report/report.html", tmp_path)
    assert 'id="effects"' in page and 'id="ablation"' in page and 'id="pairs"' in page
    assert json.loads(artifact(client, parent.info.run_id, "report/effects.json", tmp_path))[0]["label"]


@pytest.fixture(scope="module")
def digits_trial(tmp_path_factory, store_template):
    folder = tmp_path_factory.mktemp("digits")
    uri = fresh_store(store_template, folder / "store")
    proc = run_train([*TINY, f"tracking.uri={uri}"], cwd=folder)
    assert proc.returncode == 0, proc.stderr[-3000:]
    [run] = mlflow_runs(uri)
    return uri, run.info.run_id, folder


def test_a_logged_trial_explained_from_the_command_line(digits_trial, tmp_path):
    uri, run_id, _ = digits_trial
    proc = explain(uri, run_id, "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"Explained run {run_id}" in proc.stdout
    client = MlflowClient(uri)
    run = client.get_run(run_id)
    listed = {a.path for a in client.list_artifacts(run_id, "explain")}
    assert {"explain/explanation.html", "explain/per_class.csv", "explain/confusion.csv",
            "explain/attributions.json", "explain/behaviour.json"} <= listed
    behaviour = json.loads((tmp_path / "out" / "behaviour.json").read_text())
    confusion = np.array([[int(v) for v in r[1:]] for r in csv.reader(io.StringIO(
        (tmp_path / "out" / "confusion.csv").read_text()))][1:])
    test_accuracy = run.data.metrics["test_accuracy"]
    assert confusion.shape == (10, 10)
    assert np.trace(confusion) / confusion.sum() == pytest.approx(test_accuracy, abs=1e-6)  # the trial's own score
    assert float(run.data.tags["explain.accuracy"]) == pytest.approx(test_accuracy, abs=1e-6)
    assert 0.0 <= float(run.data.tags["explain.ece"]) <= 1.0 and "explain.page" in run.data.tags
    assert behaviour  # the numbers behind the figures
    attributions = json.loads((tmp_path / "out" / "attributions.json").read_text())
    assert attributions["kind"] == "image" and "mean" in attributions["baseline"]
    page = (tmp_path / "out" / "explanation.html").read_text()
    assert "fig-confusion" in page and "fig-attributions" in page and "fig-calibration" in page
    assert "<script>/**\n* plotly.js" in page and not re.search(r"<script[^>]*\bsrc\s*=", page)  # self-contained


def test_a_run_without_a_refit_model_gets_one_line_and_exit_2(tmp_path, store_template):
    uri = fresh_store(store_template, tmp_path / "store")
    proc = run_train([*TINY, "cv.refit=false", f"tracking.uri={uri}"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    [run] = mlflow_runs(uri)
    proc = explain(uri, run.info.run_id)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "refit" in lines[0] and run.info.run_id in lines[0]
    assert not MlflowClient(uri).list_artifacts(run.info.run_id, "explain")


ONEHOT = '''
"""Bag of words through one-hot vectors: trains, but has no embedding to attribute token ids to."""
import torch
from torch import nn


class OneHot(nn.Module):
    def __init__(self, vocab_size, num_outputs):
        super().__init__()
        self.vocab_size = vocab_size
        self.head = nn.Linear(vocab_size, num_outputs)

    def forward(self, x):
        return self.head(nn.functional.one_hot(x, self.vocab_size).float().sum(1))


def onehot(input_shape, num_outputs, vocab_size, padding_idx=0):
    return OneHot(vocab_size, num_outputs)
'''


def test_a_plug_in_from_outside_the_repository_explained_and_one_without_gradients_says_so(tmp_path, store_template):
    from tests.test_examples import copy_example, run_in

    folder = copy_example("text_plugin", tmp_path)
    (folder / "reviews.tsv").write_text("label\ttext\n" + "".join(
        f"pos\tgreat lovely film {i} truly great\n" f"neg\tdull awful mess {i} sadly\n" for i in range(12)))
    (folder / "review_example" / "onehot.py").write_text(ONEHOT)
    (folder / "conf" / "model" / "onehot.yaml").write_text("_target_: review_example.onehot.onehot\n")
    uri = fresh_store(store_template, tmp_path / "store")
    for model in ("bag", "onehot"):
        proc = run_in(folder, "hydra.searchpath=[file://conf]", "data=my_reviews", f"data.path={folder}/reviews.tsv",
                      f"model={model}", "trainer.epochs=15", "cv.folds=2", "optimizer.lr=0.05", f"tracking.uri={uri}")
        assert proc.returncode == 0, proc.stderr[-3000:]
    by_model = {r.data.params["model._target_"].rsplit(".", 1)[-1]: r.info.run_id for r in mlflow_runs(uri)}
    elsewhere = tmp_path / "elsewhere"  # neither the example's folder nor on PYTHONPATH: the run's tag finds it
    elsewhere.mkdir()
    proc = explain(uri, by_model["bag"], "--out", str(tmp_path / "bag"), cwd=elsewhere)
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = json.loads((tmp_path / "bag" / "attributions.json").read_text())
    assert found["kind"] == "text" and "padding" in found["baseline"]
    page = (tmp_path / "bag" / "explanation.html").read_text()
    assert "great" in page or "awful" in page  # tokens shown as words
    proc = explain(uri, by_model["onehot"], "--out", str(tmp_path / "onehot"), cwd=elsewhere)
    assert proc.returncode == 0, proc.stderr[-3000:]
    said = [line for line in (proc.stdout + proc.stderr).splitlines() if "Attributions not computed" in line]
    assert len(said) == 1 and "Embedding" in said[0]
    assert (tmp_path / "onehot" / "per_class.csv").exists() and not (tmp_path / "onehot" / "attributions.json").exists()
    listed = {a.path for a in MlflowClient(uri).list_artifacts(by_model["onehot"], "explain")}
    assert "explain/confusion.csv" in listed and "explain/attributions.json" not in listed


def test_a_sweeps_best_model_is_explained_once_and_its_registered_version_points_to_it(tmp_path, store_template):
    uri = fresh_store(store_template, tmp_path / "store")
    proc = run_train(["-m", "hydra/sweeper=random", "hydra.sweeper.n_trials=2", "optimizer.lr=0.01,0.05", *TINY,
                      f"tracking.uri={uri}", "hydra.sweeper.model_name=explained",
                      f"hydra.sweep.dir={tmp_path / 'sweep'}"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Explanation of trial-" in proc.stderr + proc.stdout
    parent, children = sweep_runs(uri)
    best = parent.data.tags["best.run_id"]
    explained = [c.info.run_id for c in children if "explain.page" in c.data.tags]
    assert explained == [best]  # once, for the best trial only
    client = MlflowClient(uri)
    [version] = client.search_model_versions("name = 'explained'")
    assert version.tags["explain.page"] == "explain/explanation.html" and "explain.ece" in version.tags
    assert version.run_id == best
    from pipeline.results.best_model import logged_model_id

    model_id = logged_model_id(client, parent.info.experiment_id, best)  # the model the version was made from
    assert version.source == f"models:/{model_id}"
    model_files = {a.path for a in client.list_logged_model_artifacts(model_id, "explain")}
    assert "explain/explanation.html" in model_files and "explain/confusion.csv" in model_files  # with the model
    assert client.get_logged_model(model_id).tags["explain.page"] == "explain/explanation.html"
    import mlflow

    mlflow.set_tracking_uri(uri)
    served = mlflow.pyfunc.load_model("models:/explained/1")  # the explanation beside it changes nothing of it
    assert np.asarray(served.predict(np.zeros((2, 64), dtype=np.float32))).shape == (2, 10)
