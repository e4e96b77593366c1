"""Data entries (see ``pipeline.contract``): the built-in ones, and building any entry from its config."""

from __future__ import annotations

from typing import Any

from pipeline.contract import DataSplit, TensorData, checked
from pipeline.data.builtin import cifar10, digits, fashion_mnist, in_memory, mnist
from pipeline.data.image_folder import image_folder

__all__ = ["DataSplit", "TensorData", "cifar10", "digits", "fashion_mnist", "image_folder", "in_memory",
           "load_data", "mnist"]


def load_data(cfg: Any) -> DataSplit:
    """Instantiate the data entry ``cfg`` (``_target_`` and its keys) and check what it returned."""
    from pipeline.training.builders import build

    return checked(build(cfg, "data"), str(cfg.get("_target_")))
