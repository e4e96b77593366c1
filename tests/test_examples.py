"""The two examples under examples/, run as a user runs them: copied to a folder outside the repository, their
own package on PYTHONPATH and their conf folder on Hydra's search path, the pipeline untouched."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pytest
import torch
from mlflow.tracking import MlflowClient

from tests.conftest import ROOT, fresh_store, sweep_runs

pytestmark = pytest.mark.slow


def copy_example(name: str, tmp_path: Path) -> Path:
    folder = tmp_path / name
    shutil.copytree(ROOT / "examples" / name, folder, ignore=shutil.ignore_patterns("__pycache__"))
    assert ROOT not in folder.parents
    return folder


def run_in(folder: Path, *args: str, module: str | None = None, env: dict | None = None
           ) -> subprocess.CompletedProcess:
    """``python <repo>/train.py ARGS`` (or ``python -m module ARGS``) from the example's folder."""
    full_env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    full_env.update({"PYTHONPATH": str(folder), **(env or {})})
    cmd = [sys.executable, "-m", module, *args] if module else [sys.executable, str(ROOT / "train.py"), *args]
    return subprocess.run(cmd, cwd=folder, env=full_env, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def diabetes(tmp_path_factory, store_template):
    tmp = tmp_path_factory.mktemp("examples")
    folder = copy_example("diabetes_regression", tmp)
    uri = fresh_store(store_template, tmp / "store")
    proc = run_in(folder, "-m", "hydra.searchpath=[file://conf]", "+sweep=diabetes_bayes", f"tracking.uri={uri}",
                  "hydra.sweeper.n_trials=5", "hydra.sweeper.n_initial=3", "trainer.epochs=20", "cv.folds=3",
                  "hydra.sweeper.model_name=diabetes", "hydra.sweep.dir=multirun/sweep")
    assert proc.returncode == 0, proc.stderr[-4000:]
    return folder, uri, proc


def test_regression_example_sweeps_val_rmse_minimized(diabetes):
    folder, uri, _ = diabetes
    parent, children = sweep_runs(uri)
    assert parent.info.status == "FINISHED" and parent.data.tags["sweep.direction"] == "minimize"
    assert len(children) == 5 and all(c.info.status == "FINISHED" for c in children)
    for c in children:
        t, m = c.data.tags, c.data.metrics
        assert (t["objective.metric"], t["task"], t["model"], t["data"]) == ("val_rmse", "regression", "regressor",
                                                                             "diabetes")
        assert {"cv_mean", "test_rmse", "test_mae", "test_r2", "test_loss"} <= set(m) and 30 < m["cv_mean"] < 120
        assert c.data.params["model._target_"] == "diabetes_example.model.regressor"
    best = min(children, key=lambda c: c.data.metrics["cv_mean"])
    assert parent.data.tags["best.run_id"] == best.info.run_id
    assert (folder / "multirun" / "sweep" / "report" / "report.html").exists()
    # the best plug-in model explained after the sweep: residuals on its test split, in the targets' units
    assert float(best.data.tags["explain.rmse"]) == pytest.approx(best.data.metrics["test_rmse"], rel=1e-4)
    assert float(best.data.tags["explain.mae"]) == pytest.approx(best.data.metrics["test_mae"], rel=1e-4)
    listed = {a.path for a in MlflowClient(uri).list_artifacts(best.info.run_id, "explain")}
    assert {"explain/residuals.csv", "explain/explanation.html", "explain/attributions.json"} <= listed


def test_the_printed_rerun_commands_run_the_plug_in_trial_from_any_folder(diabetes, tmp_path):
    """``best_command`` (printed, in optimization_results.yaml) and the run's ``reproduce.command`` carry the
    config folders and the module path, absolute: from another folder, without PYTHONPATH set, they run the best
    trial again and score it as logged."""
    import shlex

    import yaml

    folder, uri, _ = diabetes
    parent, children = sweep_runs(uri)
    best = next(c for c in children if c.info.run_id == parent.data.tags["best.run_id"])
    results = yaml.safe_load((folder / "multirun" / "sweep" / "optimization_results.yaml").read_text())
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "PYTHONPATH")}
    before = {r.info.run_id for r in MlflowClient(uri).search_runs([best.info.experiment_id])}
    for command in (results["best_command"], best.data.tags["reproduce.command"] + f" tracking.uri={uri}"):
        assert f"hydra.searchpath=[file://{folder / 'conf'}]" in command and f"PYTHONPATH={folder}" in command
        words = shlex.split(command)
        words[words.index("python")] = sys.executable
        assignments = dict(w.split("=", 1) for w in words if w.startswith("PYTHONPATH="))
        argv = [w for w in words if not w.startswith("PYTHONPATH=")]
        proc = subprocess.run(argv, cwd=tmp_path, env={**env, **assignments}, capture_output=True, text=True,
                              timeout=600)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    again = [r for r in MlflowClient(uri).search_runs([best.info.experiment_id]) if r.info.run_id not in before]
    assert not any("mlflow.parentRunId" in r.data.tags for r in again)  # re-runs stand alone
    assert len(again) == 2 and all(r.data.metrics["cv_mean"] == best.data.metrics["cv_mean"] for r in again)


def test_registered_model_loads_without_the_users_package_and_scores_as_logged(diabetes):
    from sklearn.datasets import load_diabetes
    from sklearn.model_selection import train_test_split

    _, uri, _ = diabetes
    client = MlflowClient(uri)
    version = client.get_model_version_by_alias("diabetes", "champion")
    mlflow.set_tracking_uri(uri)
    assert "diabetes_example" not in sys.modules  # shipped with the model (code_paths), not imported from here
    model = mlflow.pytorch.load_model("models:/diabetes@champion")
    X, y = load_diabetes(return_X_y=True)
    _, X_te, _, y_te = train_test_split(X, y, test_size=0.2, random_state=0)
    with torch.no_grad():
        pred = model(torch.tensor(X_te, dtype=torch.float32)).reshape(-1).numpy()
    rmse = float(np.sqrt(np.mean((pred - y_te) ** 2)))  # raw features in, the score's units out
    assert rmse == pytest.approx(float(version.tags["test_rmse"]), rel=1e-4)
    logged = mlflow.models.get_model_info(version.source)
    assert logged.signature.inputs is None and logged.saved_input_example_info is not None  # it checks its input
    # pyfunc takes what a user passes for a table: the float64 array and a DataFrame of the features, as logged
    import pandas as pd

    served = mlflow.pyfunc.load_model("models:/diabetes@champion")
    columns = load_diabetes().feature_names
    for given in (X_te, pd.DataFrame(X_te, columns=columns)):
        assert np.allclose(np.asarray(served.predict(given)).reshape(-1), pred, atol=1e-4), type(given)


def test_reproduce_a_plugged_in_trial(diabetes):
    folder, uri, _ = diabetes
    parent, _ = sweep_runs(uri)
    proc = run_in(folder, parent.data.tags["best.run_id"], "--tracking-uri", uri, module="pipeline.results.reproduce")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "summary metrics of run" in proc.stdout and "NOT all" not in proc.stdout and "test_rmse" in proc.stdout


def test_image_folder_example_tunes_a_cnn_through_the_dataloader(tmp_path, store_template):
    folder = copy_example("image_folder_digits", tmp_path)
    written = run_in(folder, "images", module="folder_example.write_digits")
    assert written.returncode == 0, written.stderr[-2000:]
    assert sorted(p.name for p in (folder / "images").iterdir()) == [str(k) for k in range(10)]
    uri = fresh_store(store_template, tmp_path / "store")
    proc = run_in(folder, "-m", "hydra.searchpath=[file://conf]", "+sweep=digit_images_bayes", f"tracking.uri={uri}",
                  "hydra.sweeper.n_trials=3", "trainer.epochs=3", "cv.folds=2", "data.subset=400",
                  "hydra.sweeper.report=false", "hydra.sweeper.model_name=digit-images")
    assert proc.returncode == 0, proc.stderr[-4000:]
    parent, children = sweep_runs(uri)
    assert parent.info.status == "FINISHED" and len(children) == 3
    for c in children:
        assert c.info.status == "FINISHED" and c.data.tags["data.loading"] == "DataLoader"
        assert c.data.params["data.train_transform._target_"] == "folder_example.augment.RandomShift"
        assert c.data.params["model._target_"] == "pipeline.models.cnn" and 0.0 <= c.data.metrics["test_accuracy"] <= 1
    version = MlflowClient(uri).get_model_version_by_alias("digit-images", "champion")
    mlflow.set_tracking_uri(uri)
    model = mlflow.pytorch.load_model("models:/digit-images@champion")
    assert model(torch.rand(2, 1, 8, 8)).shape == (2, 10) and version.tags["test_accuracy"]


def test_the_default_space_never_searches_keys_a_plugged_in_model_lacks(tmp_path, store_template):
    import json

    folder = copy_example("diabetes_regression", tmp_path)
    uri = fresh_store(store_template, tmp_path / "store")
    proc = run_in(folder, "-m", "hydra.searchpath=[file://conf]", "data=diabetes", "model=regressor",
                  "cv.metric=val_rmse", f"tracking.uri={uri}", "hydra.sweeper.n_trials=2", "trainer.epochs=3",
                  "cv.folds=2", "hydra.sweeper.report=false", "hydra.sweeper.register_model=false")
    assert proc.returncode == 0, proc.stderr[-3000:]
    parent, children = sweep_runs(uri)
    space = json.loads(parent.data.tags["sweep.space"])
    assert "optimizer.lr" in space and "regularization.dropout" in space
    assert not any(k.startswith("model.") for k in space)  # model.hidden_dim, model.num_layers: the MLP's, not this
    assert "left out (not in this config)" in proc.stdout + proc.stderr and len(children) == 2


# -- text and speech, from copies outside the repository ------------------------------------------------------------
def test_a_text_plugin_with_its_own_sequences_collate_and_model(tmp_path, store_template):
    folder = copy_example("text_plugin", tmp_path)
    rows = ["label\ttext"] + [f"pos\tgreat lovely film number {i} truly great" for i in range(12)] + \
        [f"neg\tdull awful mess {i}" for i in range(12)]
    (folder / "reviews.tsv").write_text("\n".join(rows) + "\n")
    uri = fresh_store(store_template, tmp_path / "store")
    proc = run_in(folder, "-m", "hydra.searchpath=[file://conf]", "data=my_reviews", "data.path=reviews.tsv",
                  "model=bag", "model.dim=4,8", "hydra/sweeper=grid", "trainer.epochs=15", "cv.folds=2",
                  "optimizer.lr=0.05", f"tracking.uri={uri}", "hydra.sweeper.model_name=reviews",
                  "hydra.sweep.dir=multirun/sweep")
    assert proc.returncode == 0, proc.stderr[-4000:]
    parent, children = sweep_runs(uri)
    assert len(children) == 2 and all(c.data.tags["trial.state"] == "complete" for c in children)
    assert max(c.data.metrics["cv_val_accuracy_mean"] for c in children) > 0.9  # the words tell the classes apart
    mlflow.set_tracking_uri(uri)
    model = mlflow.pyfunc.load_model("models:/reviews@champion")  # loads where review_example is not installed
    assert np.asarray(model.predict(np.array([[1, 2, 3, 0], [5, 6, 0, 0]]))).shape == (2, 2)


def test_unequal_sequences_without_a_collate_stop_before_the_first_trial(tmp_path):
    folder = copy_example("text_plugin", tmp_path)
    (folder / "reviews.tsv").write_text("label\ttext\n" + "".join(f"{'ab'[i % 2]}\t{'w ' * (i + 1)}\n"
                                                                   for i in range(8)))
    (folder / "review_example" / "data.py").write_text((folder / "review_example" / "data.py").read_text()
                                                       .replace("collate=pad_collate,", ""))
    proc = run_in(folder, "hydra.searchpath=[file://conf]", "data=my_reviews", "data.path=reviews.tsv", "model=bag",
                  f"tracking.uri=sqlite:///{tmp_path / 'never.db'}")
    assert proc.returncode == 2
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if "different shapes" in line]
    assert lines and "pad_collate" in lines[0], proc.stderr[-2000:]
    assert not (tmp_path / "never.db").exists()


def test_the_spoken_digits_example_says_what_it_needs_and_its_preset_runs(tmp_path, store_template):
    from tests.data.test_audio import write_tones

    folder = copy_example("spoken_digits", tmp_path)
    made = subprocess.run([sys.executable, "make_clips.py", str(tmp_path / "spoken")], cwd=folder,
                          capture_output=True, text=True, timeout=600)
    if shutil.which("espeak-ng") is None:
        assert made.returncode == 2 and "apt-get install espeak-ng" in made.stderr
        clips = write_tones(tmp_path / "spoken", classes=(250.0, 700.0, 1800.0), per_class=8, rate=16000)
    else:
        assert made.returncode == 0, made.stderr
        clips = tmp_path / "spoken"
    uri = fresh_store(store_template, tmp_path / "store")
    proc = run_in(folder, "-m", "+sweep=speech", f"data.path={clips}", "data.duration=0.5", "hydra.sweeper.n_trials=3",
                  "hydra.sweeper.n_initial=2", "trainer.epochs=4", "cv.folds=2", f"tracking.uri={uri}",
                  "hydra.sweep.dir=multirun/sweep")
    assert proc.returncode == 0, proc.stderr[-4000:]
    parent, children = sweep_runs(uri)
    assert len(children) == 3 and parent.info.status == "FINISHED"
    assert {"preprocess.n_mels", "preprocess.window_ms", "preprocess.hop_ms"} <= set(children[0].data.params)
