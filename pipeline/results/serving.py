"""The modules a served model is made of: the trained model wrapped so that it takes raw inputs in each layout
the data has (``InputShape``), normalises them inside (``Normalize``) and gives outputs in the targets' units.
Only torch: a logged model's pickle imports this module wherever it is loaded."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class Normalize(nn.Module):
    """Standardisation with fixed statistics: ``(x - mean) / std`` (inputs), or its inverse (outputs)."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor, inverse: bool = False) -> None:
        super().__init__()
        self.register_buffer("mean", mean.detach().clone().float())
        self.register_buffer("std", std.detach().clone().float())
        self.inverse = inverse

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.std + self.mean if self.inverse else (x - self.mean) / self.std


class InputShape(nn.Module):
    """Takes a batch in each layout the data has: ``(N, *sample_shape)``, flat ``(N, prod(sample_shape))``, and
    ``(N, H, W)`` for one-channel images; any other shape raises a one-line ``ValueError`` naming the shape
    received and those expected. Floating inputs are cast to float32 (the weights' type); integer ones (token ids)
    to int64, never to floats."""

    def __init__(self, sample_shape: Sequence[int], integer: bool = False) -> None:
        super().__init__()
        self.sample_shape = tuple(int(d) for d in sample_shape)
        self.integer = bool(integer)
        self.size = 1
        for d in self.sample_shape:
            self.size *= d

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rest = tuple(x.shape[1:])
        if getattr(self, "integer", False):  # a model pickled before integer inputs existed has no such attribute
            if x.is_floating_point() and not bool(torch.all(x == x.round())):
                raise ValueError("input of fractional numbers does not fit this model: expected integer token ids")
            x = x.long()
            if x.dim() == 2:
                return x  # sequences of any length: the model reads each one's length from its padding
        else:
            x = x.float()
        if x.dim() >= 1 and rest == self.sample_shape:
            return x
        if x.dim() == 2 and rest == (self.size,):
            return x.reshape(-1, *self.sample_shape)
        if self._one_channel and rest == self.sample_shape[1:]:
            return x.unsqueeze(1)
        raise ValueError(f"input of shape {tuple(x.shape)} does not fit this model: expected {self.expected()}")

    @property
    def _one_channel(self) -> bool:
        return len(self.sample_shape) == 3 and self.sample_shape[0] == 1

    def expected(self) -> str:
        """The accepted shapes, as a user reads them: ``(N, 1, 8, 8), (N, 64) or (N, 8, 8)``."""
        shapes = [(-1, *self.sample_shape)]
        if len(self.sample_shape) > 1:
            shapes.append((-1, self.size))
        if self._one_channel:
            shapes.append((-1, *self.sample_shape[1:]))
        texts = ["(" + ", ".join("N" if d == -1 else str(d) for d in s) + ")" for s in shapes]
        return texts[0] if len(texts) == 1 else ", ".join(texts[:-1]) + " or " + texts[-1]


def as_served(model: nn.Module, x_mean: torch.Tensor | None = None, x_std: torch.Tensor | None = None,
              y_mean: torch.Tensor | None = None, y_std: torch.Tensor | None = None,
              input_shape: Sequence[int] | None = None, transform: nn.Module | None = None,
              input_dtype: torch.dtype | None = None) -> nn.Module:
    """The model a user loads from MLflow: raw inputs in, normalised (and ``transform``ed: the fitted
    ``preprocess``) inside, outputs in the targets' units (regression), on CPU, in eval mode. With ``input_shape``
    (a sample's shape), it takes each layout ``InputShape`` accepts and refuses others with a clear error."""
    integer = input_dtype is not None and not input_dtype.is_floating_point
    parts: list[nn.Module] = [] if input_shape is None else [InputShape(input_shape, integer)]
    if x_mean is not None:
        parts.append(Normalize(x_mean, x_std))
    if transform is not None:
        parts.append(transform)
    parts.append(model)
    if y_mean is not None:
        parts.append(Normalize(y_mean, y_std, inverse=True))
    served = nn.Sequential(*parts).cpu().eval()
    served.input_dtype = input_dtype or torch.float32  # what its input example is made of (``served.log_served``)
    return served
