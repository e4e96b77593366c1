"""The refit model as users get it: the checkpoint a trial logs (weights, scaling, shapes), the served module
(raw inputs in, the targets' units out) built from a refit or rebuilt from that checkpoint and the trial's
config, and how it is logged as an MLflow model: with a signature, an input example, and the code of a
plugged-in model factory, so that it loads where that code is not installed."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pipeline.results.serving import as_served
from pipeline.tracking.tracker import checkpoint_bytes, mlflow_fluent
from pipeline.training.builders import build_model
from pipeline.training.cv import RefitResult
from pipeline.training.transforms import transform_from_state, transform_state

OWN_PACKAGES = ("pipeline", "torch", "torchvision")  # installed wherever the model is loaded


def refit_checkpoint(fitted: RefitResult) -> bytes:
    """Weights, scaling and shapes: with the trial's config.yaml, all ``served_from_checkpoint`` needs."""
    s = fitted.scaling
    return checkpoint_bytes({"state_dict": fitted.model.state_dict(), "x_mean": s.x_mean, "x_std": s.x_std,
                     "y_mean": s.y_mean, "y_std": s.y_std, "epochs": fitted.epochs, "task": fitted.task,
                     "transform": transform_state(s.transform),
                     "input_shape": list(fitted.input_shape), "num_outputs": fitted.num_outputs,
                     "input_dtype": dtype_name(fitted.input_dtype), "model_args": dict(fitted.model_args)})


def dtype_name(dtype: torch.dtype | None) -> str:
    """``torch.int64`` -> ``int64`` (a checkpoint holds names, not torch objects); float32 when unknown."""
    return str(dtype or torch.float32).removeprefix("torch.")


def served_from_fitted(fitted: RefitResult) -> torch.nn.Module:
    s = fitted.scaling
    return as_served(fitted.model, s.x_mean, s.x_std, s.y_mean, s.y_std, input_shape=fitted.input_shape,
                     transform=s.transform, input_dtype=fitted.input_dtype)


def served_from_checkpoint(cfg: Any, ckpt: dict[str, Any]) -> torch.nn.Module:
    """The served model rebuilt from a refit checkpoint and the config of the trial that wrote it."""
    from pipeline.training.batches import Scaling

    shape, transform = tuple(int(v) for v in ckpt["input_shape"]), transform_from_state(ckpt.get("transform"))
    dtype = getattr(torch, str(ckpt.get("input_dtype", "float32")))
    args = Scaling(transform=transform).model_args(shape, dtype, dict(ckpt.get("model_args") or {}))
    model = build_model(cfg, args.pop("input_shape"), int(ckpt["num_outputs"]), **args)
    model.load_state_dict(ckpt["state_dict"])
    return as_served(model, ckpt["x_mean"], ckpt["x_std"], ckpt["y_mean"], ckpt["y_std"], input_shape=shape,
                     transform=transform, input_dtype=dtype)


def example_input(input_shape: tuple[int, ...] | list[int], dtype: torch.dtype | str | None = None) -> np.ndarray:
    """A small raw input batch of the data's dtype (token ids: integers, padding 0): the logged model's input
    example (and the pt2 export's sample)."""
    name = dtype_name(dtype) if not isinstance(dtype, str) else dtype
    return np.zeros((2, *[int(d) for d in input_shape]), dtype=np.dtype(name))


def code_paths(cfg: Any) -> list[str]:
    """The package of a plugged-in model factory (``model._target_`` outside this project and torch)."""
    target = str(cfg.model.get("_target_", ""))
    top = target.split(".", 1)[0]
    if not top or top in OWN_PACKAGES:
        return []
    try:
        module = importlib.import_module(top)
    except ImportError:
        return []
    path = Path(getattr(module, "__file__", "") or "")
    if not path.name:
        return []
    return [str(path.parent if path.name == "__init__.py" else path)]


def log_served(tracker: Any, served: torch.nn.Module, cfg: Any, input_shape: tuple[int, ...] | list[int],
               example: np.ndarray | None = None) -> str:
    """Log ``served`` as the run's MLflow model, with an input example (``example``: real samples of the data; by
    default zeros of the served model's dtype) and ``output_signature``; returns its id."""
    from mlflow.models import set_signature

    example = example_input(input_shape, getattr(served, "input_dtype", None)) if example is None else example
    fmt = cfg.tracking.get("model_format", "pickle")
    try:
        model_id = tracker.log_model(served, example=example, fmt=fmt, code_paths=code_paths(cfg))
    except Exception as e:  # noqa: BLE001 - pt2 cannot export every model (packed sequences): fall back, say so
        if fmt != "pt2":
            raise
        import logging

        logging.getLogger("pipeline").warning(
            "tracking.model_format=pt2: torch.export cannot export this model (%s: %s); logged as pickle instead",
            type(e).__name__, " ".join(str(e).split())[:200])
        model_id = tracker.log_model(served, example=example, fmt="pickle", code_paths=code_paths(cfg))
    with mlflow_fluent(tracker.uri, tracker.experiment_id):
        set_signature(f"models:/{model_id}", output_signature(served, example))
    return model_id


def output_signature(served: torch.nn.Module, example: np.ndarray) -> Any:
    """The signature of a served model: its outputs only.

    MLflow's pyfunc enforces an input schema before the model sees the input, and refuses what users pass: a
    tensor schema takes one dtype and one rank (float64 arrays refused by a float32 one, images in one layout
    of several), a column schema only DataFrames with its column names. The served model checks its input
    itself (``pipeline.results.serving.InputShape``: each layout of the data, one line naming the shapes it takes
    otherwise) and casts it, so it takes float32 or float64 arrays and DataFrames of the feature columns; the
    input example shows the sample's shape.
    """
    from mlflow.models import ModelSignature
    from mlflow.types import Schema, TensorSpec

    with torch.no_grad():
        out = served(torch.as_tensor(example)).numpy()
    return ModelSignature(inputs=None, outputs=Schema([TensorSpec(out.dtype, (-1, *out.shape[1:]))]))
