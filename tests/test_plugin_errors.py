"""Bad plug-ins stop before anything is written to MLflow, with one line naming the value and what was
expected, and exit code 2: ``python train.py`` with a user's config folder, as a user runs it."""

from __future__ import annotations

import pytest

from tests.conftest import TINY, run_train_in_process
from tests.test_train_cli import runs_in

pytestmark = pytest.mark.slow

MODELS = {
    "broken_import.yaml": "_target_: no_such_package.models.net\n_partial_: true\n",
    "wants_images.yaml": "_target_: pipeline.models.cnn\n_partial_: true\n",
    "not_a_factory.yaml": "_target_: torch.nn.Linear\n_partial_: false\nin_features: 64\nout_features: 3\n",
    "tabular_only.yaml": "_target_: plugin_data.tabular_only\n_partial_: true\n",
    "wrong_outputs.yaml": "_target_: plugin_data.three_outputs\n_partial_: true\n",
}
DATA = {
    "table.yaml": "_target_: plugin_data.table\n",
    "rare_class.yaml": "_target_: plugin_data.rare_class\n",
}
PLUGIN_DATA = '''
import torch
from pipeline.contract import DataSplit, TensorData

def table():
    X = torch.randn(60, 5)
    return DataSplit(TensorData(X[:50], X[:50, 0]), TensorData(X[50:], X[50:, 0]), task="regression")

def tabular_only(input_shape, num_outputs):
    if len(input_shape) != 1:
        raise ValueError(f"tabular_only takes samples (F,), not {tuple(input_shape)}")
    return torch.nn.Linear(input_shape[0], num_outputs)

def three_outputs(input_shape, num_outputs):
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.LazyLinear(3))

def rare_class():
    X = torch.randn(60, 5)
    y = torch.zeros(60, dtype=torch.long)
    y[:3] = 1  # a class of 3 samples cannot fill 5 stratified folds
    return DataSplit(TensorData(X[:50], y[:50]), TensorData(X[50:], y[50:]))
'''


@pytest.fixture
def user_folder(tmp_path, monkeypatch):
    conf = tmp_path / "conf"
    for group, files in (("model", MODELS), ("data", DATA)):
        (conf / group).mkdir(parents=True)
        for name, text in files.items():
            (conf / group / name).write_text(text)
    (tmp_path / "plugin_data.py").write_text(PLUGIN_DATA)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


@pytest.mark.parametrize("overrides, named", [
    (["model=broken_import"], "model._target_='no_such_package.models.net' cannot be imported"),
    (["data=table", "model=wants_images", "cv.metric=val_rmse"],
     "model=cnn cannot take the data's samples of shape (5,): expected images (C, H, W)"),
    (["model=not_a_factory"], "model._target_='torch.nn.Linear' failed: TypeError"),
    (["model=tabular_only"], "tabular_only takes samples (F,), not (1, 8, 8)"),
    (["model=wrong_outputs"], "gives outputs of shape (3,) per sample; expected (10,)"),
    (["data=table"], "cv.metric='val_accuracy' is not reported by a regression task"),
    (["data=rare_class", "cv.folds=5"], "cv.folds=5 is larger than the smallest class of the training data (class 1"),
])
def test_a_bad_plug_in_stops_before_any_run(user_folder, tmp_path, capfd, overrides, named):
    db = tmp_path / "store" / "mlflow.db"
    tiny = [a for a in TINY if not a.startswith("data.")]
    subset = [] if overrides[0].startswith("data=") else ["data.subset=300"]
    code, out = run_train_in_process([*tiny, *subset,
                                      f"hydra.searchpath=[file://{user_folder / 'conf'}]",
                                      f"tracking.uri=sqlite:///{db}",
                                      f"hydra.run.dir={tmp_path / 'run'}", *overrides], capfd)
    assert code == 2, out[-2000:]
    errors = [line for line in out.splitlines() if named in line]
    assert len(errors) == 1 and "expected" in errors[0] and "Traceback" not in out, out[-2000:]
    assert runs_in(db) == 0
