"""A logged trial's refit model and its held-out test split, loaded back for explanation.

The model is the served one (``pipeline.results.served.served_from_checkpoint``: raw inputs in, the fitted
normalisation and preprocess inside), rebuilt from the run's ``checkpoints/refit.pt`` and ``config.yaml``; the
data is the run's own data entry composed again from that config, so the test split is the one the trial scored
(splits are seeded). A plug-in's modules are found where the trial found them (its ``job.pythonpath`` tag).
"""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from pipeline.errors import ConfigError
from pipeline.tracking import names

BATCH = 256  # test samples per forward pass


@dataclass
class TrialModel:
    """What an explanation of one trial works on: the served model, the test inputs and labels, and its outputs."""

    run_id: str
    cfg: Any
    served: torch.nn.Module
    task: str                        # classification | regression
    inputs: torch.Tensor | list[Any]  # the test inputs as the served model takes them (a list when unequal shapes)
    targets: np.ndarray              # (n,) labels or (n,) / (n, T) regression targets
    outputs: np.ndarray              # (n, k) logits, or predictions in the targets' units
    class_names: tuple[str, ...] = ()
    tokens: tuple[str, ...] = ()
    padding_idx: int = 0

    def batch(self, index: np.ndarray) -> torch.Tensor:
        """The test inputs at ``index`` as one batch (padded when their shapes differ)."""
        if isinstance(self.inputs, torch.Tensor):
            return self.inputs[torch.as_tensor(index, dtype=torch.long)]
        return pad_batch([self.inputs[int(i)] for i in index], self.padding_idx)


def load_trial_model(client: Any, run_id: str) -> TrialModel:
    """The refit model of ``run_id`` with its test split and outputs; a ``ConfigError`` naming what is missing."""
    from mlflow.exceptions import MlflowException
    from omegaconf import OmegaConf

    run = client.get_run(run_id)
    _import_path(run.data.tags.get(names.PYTHONPATH_TAG))
    with tempfile.TemporaryDirectory() as tmp:
        try:
            cfg = OmegaConf.load(client.download_artifacts(run_id, names.CONFIG_ARTIFACT, tmp))
        except (MlflowException, OSError):
            raise ConfigError(f"run {run_id} has no {names.CONFIG_ARTIFACT} artifact: expected a trial logged by "
                              "train.py") from None
        try:
            ckpt = torch.load(client.download_artifacts(run_id, names.REFIT_CHECKPOINT, tmp), weights_only=True)
        except (MlflowException, OSError):
            raise ConfigError(f"run {run_id} has no refit model ({names.REFIT_CHECKPOINT}): expected a trial run "
                              "with cv.refit=true and tracking.log_checkpoints=true") from None
    return _loaded(run_id, cfg, ckpt)


def _loaded(run_id: str, cfg: Any, ckpt: dict[str, Any]) -> TrialModel:
    from pipeline.data import load_data
    from pipeline.results.served import served_from_checkpoint

    served = served_from_checkpoint(cfg, ckpt)
    data = load_data(cfg.data)
    inputs, targets = test_part(data)
    padding = int(data.model_args.get("padding_idx", 0) or 0)
    model = TrialModel(run_id, cfg, served, str(ckpt.get("task", data.task)), inputs, targets, np.zeros(0),
                       tuple(data.class_names), tuple(data.tokens), padding)
    model.outputs = predict(model)
    return model


def test_part(data: Any) -> tuple[torch.Tensor | list[Any], np.ndarray]:
    """The test split's inputs (one tensor, or a list of samples of unequal shapes) and its targets."""
    from pipeline.contract import TensorData

    if isinstance(data.test, TensorData):
        return data.test.X, data.test.y.numpy()
    items = [data.test[i] for i in range(len(data.test))]
    xs, ys = [x for x, _ in items], np.array([np.asarray(y) for _, y in items])
    same = all(isinstance(x, torch.Tensor) and x.shape == xs[0].shape for x in xs)
    return (torch.stack(xs) if same else xs), ys


def predict(model: TrialModel) -> np.ndarray:
    """The served model's outputs on every test input, in batches of ``BATCH``."""
    n, out = len(model.targets), []
    with torch.no_grad():
        for start in range(0, n, BATCH):
            out.append(model.served(model.batch(np.arange(start, min(n, start + BATCH)))).float().numpy())
    return np.concatenate(out) if out else np.zeros((0,))


def pad_batch(samples: list[torch.Tensor], value: int = 0) -> torch.Tensor:
    """Samples of unequal lengths (last dimension) as one batch, right-padded with ``value``."""
    length = max(s.shape[-1] for s in samples)
    return torch.stack([torch.nn.functional.pad(s, (0, length - s.shape[-1]), value=value) for s in samples])


def _import_path(pythonpath: str | None) -> None:
    """Make a plug-in's modules importable from the folders its trial imported them from."""
    if pythonpath:
        sys.path[:0] = [p for p in pythonpath.split(os.pathsep) if p and p not in sys.path]
