"""Built-in model factories (``conf/model/mlp.yaml``, ``cnn.yaml``): ordinary entries of the plug-in
contract (``pipeline.contract``), called as ``factory(input_shape=..., num_outputs=...)``; and the wrapper
that makes a trained model take raw inputs (``as_served``)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from pipeline.errors import ConfigError

ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid,
               "leaky_relu": nn.LeakyReLU}


def mlp(input_shape: Sequence[int], num_outputs: int, num_layers: int = 2, hidden_dim: int = 128,
        activation: str = "relu", batch_norm: bool = False, dropout: float = 0.0) -> nn.Sequential:
    """Flatten, then ``num_layers`` blocks of linear (-> batch norm) -> activation -> dropout, then a linear head.

    Takes samples of any shape (images ``(C, H, W)``, tables ``(F,)``).
    """
    _positive(model_num_layers=int(num_layers), model_hidden_dim=int(hidden_dim), allow_zero=("model_num_layers",))
    act = _activation(activation)
    layers: list[nn.Module] = [nn.Flatten()]
    width = 1
    for d in input_shape:
        width *= int(d)
    for _ in range(int(num_layers)):
        layers.append(nn.Linear(width, int(hidden_dim)))
        if batch_norm:
            layers.append(nn.BatchNorm1d(int(hidden_dim)))
        layers += [act(), nn.Dropout(float(dropout))]
        width = int(hidden_dim)
    layers.append(nn.Linear(width, int(num_outputs)))
    return nn.Sequential(*layers)


def cnn(input_shape: Sequence[int], num_outputs: int, num_conv_layers: int = 2, channels: int = 32,
        kernel_size: int = 3, hidden_dim: int = 128, activation: str = "relu", dropout: float = 0.0) -> nn.Sequential:
    """Conv blocks (conv -> batch norm -> activation -> 2x2 max-pool while the map is >= 2x2), then an MLP head.

    Needs image samples ``(C, H, W)``.
    """
    if len(input_shape) != 3:
        raise ConfigError(f"model=cnn cannot take the data's samples of shape {tuple(input_shape)}: expected images "
                          "(C, H, W); use model=mlp or your own model for other data")
    _positive(model_num_conv_layers=int(num_conv_layers), model_channels=int(channels),
              model_kernel_size=int(kernel_size), model_hidden_dim=int(hidden_dim))
    act = _activation(activation)
    c, h, w = (int(d) for d in input_shape)
    layers: list[nn.Module] = []
    for i in range(int(num_conv_layers)):
        out = int(channels) * 2**i
        layers += [nn.Conv2d(c, out, int(kernel_size), padding="same"), nn.BatchNorm2d(out), act()]
        if min(h, w) >= 2:
            layers.append(nn.MaxPool2d(2))
            h, w = h // 2, w // 2
        c = out
    layers += [nn.Flatten(), nn.Linear(c * h * w, int(hidden_dim)), act(), nn.Dropout(float(dropout)),
               nn.Linear(int(hidden_dim), int(num_outputs))]
    return nn.Sequential(*layers)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _activation(name: str) -> type[nn.Module]:
    if name not in ACTIVATIONS:
        raise ConfigError(f"model.activation={name!r} is not supported; expected one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]


def _positive(allow_zero: tuple[str, ...] = (), **values: int) -> None:
    for key, v in values.items():
        low = 0 if key in allow_zero else 1
        if v < low:
            raise ConfigError(f"{key.replace('_', '.', 1)}={v} must be >= {low}")


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
    received and those expected. Inputs are cast to float32 (the weights' type)."""

    def __init__(self, sample_shape: Sequence[int]) -> None:
        super().__init__()
        self.sample_shape = tuple(int(d) for d in sample_shape)
        self.size = 1
        for d in self.sample_shape:
            self.size *= d

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rest = tuple(x.shape[1:])
        if x.dim() >= 1 and rest == self.sample_shape:
            return x.float()
        if x.dim() == 2 and rest == (self.size,):
            return x.float().reshape(-1, *self.sample_shape)
        if self._one_channel and rest == self.sample_shape[1:]:
            return x.float().unsqueeze(1)
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
              input_shape: Sequence[int] | None = None) -> nn.Module:
    """The model a user loads from MLflow: raw inputs in, normalised inside, outputs in the targets' units
    (regression), on CPU, in eval mode. With ``input_shape`` (a sample's shape), it takes each layout
    ``InputShape`` accepts and refuses others with a clear error."""
    parts: list[nn.Module] = [] if input_shape is None else [InputShape(input_shape)]
    if x_mean is not None:
        parts.append(Normalize(x_mean, x_std))
    parts.append(model)
    if y_mean is not None:
        parts.append(Normalize(y_mean, y_std, inverse=True))
    return nn.Sequential(*parts).cpu().eval()
