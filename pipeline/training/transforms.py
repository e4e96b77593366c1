"""The fitted feature transforms of ``preprocess`` (``pipeline.training.preprocess`` fits them) as torch modules,
and their checkpoint form. Only torch: a served model's pickle imports this module wherever it is loaded."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class QuantileMap(nn.Module):
    """Each feature through its fitted quantiles to a standard normal (``preprocess=quantile``): ``levels``
    ``(Q, F)`` are the feature's training quantiles at ``Q`` evenly spaced probabilities; values between them are
    interpolated, values beyond them clipped. Samples keep their shape."""

    def __init__(self, levels: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("levels", levels.detach().clone().float().T.contiguous())  # (F, Q)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(len(x), -1).T.contiguous()                                  # (F, N)
        q = self.levels.shape[1]
        i = torch.searchsorted(self.levels, flat).clamp(1, q - 1)
        lo, hi = self.levels.gather(1, i - 1), self.levels.gather(1, i)
        frac = ((flat - lo) / (hi - lo).clamp_min(1e-12)).clamp(0.0, 1.0)
        u = ((i - 1 + frac) / (q - 1)).clamp(1e-4, 1 - 1e-4)
        return (torch.erfinv(2 * u - 1) * 2**0.5).T.reshape(x.shape)


class Project(nn.Module):
    """Principal components (``preprocess=pca``): the flattened sample, centred, onto ``components`` ``(k, F)``
    (divided by each component's scale when whitened). Samples become ``(k,)``."""

    def __init__(self, mean: torch.Tensor, components: torch.Tensor, scale: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", mean.detach().clone().float())
        self.register_buffer("components", components.detach().clone().float())
        self.register_buffer("scale", scale.detach().clone().float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.reshape(len(x), -1) - self.mean) @ self.components.T / self.scale


def transform_state(transform: nn.Module | None) -> dict[str, Any] | None:
    """A fitted ``preprocess`` transform as tensors and plain values (a checkpoint loads with ``weights_only``)."""
    if transform is None:
        return None
    if isinstance(transform, QuantileMap):
        return {"kind": "quantile", "levels": transform.levels.T.contiguous()}
    if isinstance(transform, Project):
        return {"kind": "pca", "mean": transform.mean, "components": transform.components, "scale": transform.scale}
    raise TypeError(f"a preprocess transform of type {type(transform).__name__} cannot be written to a checkpoint")


def transform_from_state(state: dict[str, Any] | None) -> nn.Module | None:
    if state is None:
        return None
    if state["kind"] == "quantile":
        return QuantileMap(state["levels"])
    return Project(state["mean"], state["components"], state["scale"])
