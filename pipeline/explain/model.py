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
from collections.abc import Callable, Sequence
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
    inputs: torch.Tensor | list[Any]  # the test inputs as one tensor, or the test items (x, y) of a dataset
    targets: np.ndarray              # (n,) labels or (n,) / (n, T) regression targets
    outputs: np.ndarray              # (n, k) logits, or predictions in the targets' units
    class_names: tuple[str, ...] = ()
    tokens: tuple[str, ...] = ()
    padding_idx: int = 0
    collate: Callable[[Sequence[Any]], tuple[Any, Any]] | None = None  # the data entry's, for its items

    def batch(self, index: np.ndarray) -> Any:
        """The test inputs at ``index`` as one batch: the data entry's ``collate`` when it has one, else stacked
        (padded at the end of the first dimension when their lengths differ, as ``pad_collate`` does)."""
        if isinstance(self.inputs, torch.Tensor):
            return self.inputs[torch.as_tensor(index, dtype=torch.long)]
        items = [self.inputs[int(i)] for i in index]
        if self.collate is not None:
            return self.collate(items)[0]
        return pad_batch([torch.as_tensor(x) for x, _ in items], self.padding_idx)


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
    if "num_outputs" not in ckpt:
        raise ConfigError(f"run {run_id} has a refit checkpoint from an older version (no shapes): expected one "
                          "written by this version; re-run it with python -m pipeline.reproduce")
    return _loaded(run_id, cfg, ckpt)


def _loaded(run_id: str, cfg: Any, ckpt: dict[str, Any]) -> TrialModel:
    from pipeline.data import load_data
    from pipeline.results.served import served_from_checkpoint

    served = served_from_checkpoint(cfg, ckpt)
    data = load_data(cfg.data)
    inputs, targets = test_part(data)
    padding = int(data.model_args.get("padding_idx", 0) or 0)
    model = TrialModel(run_id, cfg, served, str(ckpt.get("task", data.task)), inputs, targets, np.zeros(0),
                       tuple(data.class_names), tuple(data.tokens), padding, data.collate)
    try:
        model.outputs = predict(model)
    except Exception as e:  # noqa: BLE001 - a plug-in's model or data: said in one line
        raise ConfigError(f"run {run_id}: its refit model could not predict on its test split "
                          f"({type(e).__name__}: {' '.join(str(e).split())[:300]})") from None
    return model


def test_part(data: Any) -> tuple[torch.Tensor | list[Any], np.ndarray]:
    """The test split's inputs (one tensor, or its items ``(x, y)`` when they need the entry's ``collate`` or differ
    in shape) and its targets."""
    from pipeline.contract import TensorData

    if isinstance(data.test, TensorData):
        return data.test.X, data.test.y.numpy()
    items = [data.test[i] for i in range(len(data.test))]
    xs, ys = [x for x, _ in items], np.array([np.asarray(y) for _, y in items])
    same = data.collate is None and all(isinstance(x, torch.Tensor) and x.shape == xs[0].shape for x in xs)
    return (torch.stack(xs) if same else items), ys


def predict(model: TrialModel) -> np.ndarray:
    """The served model's outputs on every test input, in batches of ``BATCH``."""
    n, out = len(model.targets), []
    with torch.no_grad():
        for start in range(0, n, BATCH):
            out.append(model.served(model.batch(np.arange(start, min(n, start + BATCH)))).float().numpy())
    return np.concatenate(out) if out else np.zeros((0,))


def pad_batch(samples: list[torch.Tensor], value: int = 0) -> torch.Tensor:
    """Samples as one batch; of unequal lengths (first dimension), padded at the end with ``value``."""
    if all(s.shape == samples[0].shape for s in samples):
        return torch.stack(samples)
    return torch.nn.utils.rnn.pad_sequence(samples, batch_first=True, padding_value=value)


def _import_path(pythonpath: str | None) -> None:
    """Make a plug-in's modules importable from the folders its trial imported them from."""
    if pythonpath:
        sys.path[:0] = [p for p in pythonpath.split(os.pathsep) if p and p not in sys.path]
