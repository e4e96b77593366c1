"""The refit model as users get it: its checkpoint loads with weights_only, the served model rebuilt from it
answers as the refit model did, and a plugged-in factory's package ships with it."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from pipeline.models import mlp
from pipeline.results.reproduce import compose
from pipeline.results.served import (
    code_paths,
    example_input,
    output_signature,
    refit_checkpoint,
    served_from_checkpoint,
    served_from_fitted,
)
from pipeline.training.batches import Scaling
from pipeline.training.cv import RefitResult


def fitted(task="regression") -> RefitResult:
    torch.manual_seed(0)
    model = mlp((4,), 1, hidden_dim=8)
    y_stats = (torch.tensor([50.0]), torch.tensor([5.0])) if task == "regression" else (None, None)
    scaling = Scaling(torch.rand(1, 4), torch.rand(1, 4) + 0.5, *y_stats)
    return RefitResult(model, 3, {"test_rmse": 1.0}, scaling, (4,), 1, task)


def test_the_checkpoint_rebuilds_the_same_served_model():
    cfg = compose(["model.hidden_dim=8"])
    fit = fitted()
    ckpt = torch.load(io.BytesIO(refit_checkpoint(fit)), weights_only=True)
    assert ckpt["input_shape"] == [4] and ckpt["num_outputs"] == 1 and ckpt["task"] == "regression"
    rebuilt, original = served_from_checkpoint(cfg, ckpt), served_from_fitted(fit)
    x = torch.rand(5, 4) * 10
    assert torch.allclose(rebuilt(x), original(x)) and float(original(x).mean()) > 20  # in the targets' units
    for served in (rebuilt, original):  # both check the input's shape
        with pytest.raises(ValueError, match=r"input of shape \(5, 3\) does not fit this model: expected \(N, 4\)"):
            served(x[:, :3])
    classification = torch.load(io.BytesIO(refit_checkpoint(fitted("classification"))), weights_only=True)
    assert classification["y_mean"] is None


def test_example_input_and_code_paths():
    assert example_input((1, 8, 8)).shape == (2, 1, 8, 8) and example_input([3]).dtype.name == "float32"
    assert code_paths(compose([])) == []  # the pipeline's own models: installed wherever it is loaded
    own = OmegaConf.create({"model": {"_target_": "tests.results.test_served.fitted"}})
    assert code_paths(own)[0].endswith("/tests")
    assert code_paths(OmegaConf.create({"model": {"_target_": "not_installed_pkg.net"}})) == []


def test_the_signature_leaves_the_input_to_the_served_model():
    """MLflow's pyfunc would refuse float64 arrays and DataFrames under a float32 tensor schema, and images in
    all layouts but one: the served model checks and casts its input itself."""
    from pipeline.models import mlp
    from pipeline.results.serving import as_served

    table = output_signature(served_from_fitted(fitted("classification")), example_input((4,)))
    assert table.inputs is None and table.outputs.inputs[0].shape == (-1, 1)
    images = output_signature(as_served(mlp((1, 8, 8), 10), input_shape=(1, 8, 8)), example_input((1, 8, 8)))
    assert images.inputs is None and images.outputs.inputs[0].shape == (-1, 10)


def test_pyfunc_takes_what_users_pass_for_a_table(tmp_path):
    """A tabular model loaded with ``mlflow.pyfunc``: float32 and float64 arrays and DataFrames (named columns or
    not) give the same predictions; another width is refused with the shapes it takes."""
    import mlflow
    import pandas as pd

    served = served_from_fitted(fitted("regression"))
    example = example_input((4,))
    mlflow.pytorch.save_model(served, str(tmp_path / "m"), signature=output_signature(served, example),
                              input_example=example, serialization_format="pickle")
    model = mlflow.pyfunc.load_model(str(tmp_path / "m"))
    x = np.random.default_rng(0).normal(size=(5, 4))
    expected = np.asarray(model.predict(x.astype(np.float32)))
    for given in (x, pd.DataFrame(x, columns=["age", "bmi", "bp", "s1"]), pd.DataFrame(x)):
        assert np.allclose(np.asarray(model.predict(given)), expected, atol=1e-5), type(given)
    with pytest.raises(Exception, match=r"input of shape \(5, 3\) does not fit this model: expected \(N, 4\)"):
        model.predict(x[:, :3])
