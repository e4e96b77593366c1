"""Model builders: an MLP and a small CNN that adapt to the input shape and class count."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from pipeline.errors import ConfigError

ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid,
               "leaky_relu": nn.LeakyReLU}
MODELS = ("mlp", "cnn")


def build_model(cfg: Any, input_shape: tuple[int, int, int], num_classes: int, dropout: float = 0.0) -> nn.Module:
    """Build ``cfg.name`` for inputs of shape ``(C, H, W)`` and ``num_classes`` outputs."""
    if cfg.name == "mlp":
        return mlp(input_shape, num_classes, int(cfg.num_layers), int(cfg.hidden_dim),
                   _activation(cfg.activation), bool(cfg.batch_norm), dropout)
    if cfg.name == "cnn":
        return cnn(input_shape, num_classes, int(cfg.num_conv_layers), int(cfg.channels), int(cfg.kernel_size),
                   int(cfg.hidden_dim), _activation(cfg.get("activation", "relu")), dropout)
    raise ConfigError(f"model.name={cfg.name!r} is not a known model; expected one of {MODELS}")


def mlp(input_shape: tuple[int, int, int], num_classes: int, num_layers: int, hidden_dim: int,
        act: type[nn.Module], batch_norm: bool, dropout: float) -> nn.Sequential:
    """Flatten, then ``num_layers`` blocks of linear (-> batch norm) -> activation -> dropout."""
    _positive(model_num_layers=num_layers, model_hidden_dim=hidden_dim, allow_zero=("model_num_layers",))
    layers: list[nn.Module] = [nn.Flatten()]
    width = input_shape[0] * input_shape[1] * input_shape[2]
    for _ in range(num_layers):
        layers.append(nn.Linear(width, hidden_dim))
        if batch_norm:
            layers.append(nn.BatchNorm1d(hidden_dim))
        layers += [act(), nn.Dropout(dropout)]
        width = hidden_dim
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


def cnn(input_shape: tuple[int, int, int], num_classes: int, num_conv_layers: int, channels: int,
        kernel_size: int, hidden_dim: int, act: type[nn.Module], dropout: float) -> nn.Sequential:
    """Conv blocks (conv -> batch norm -> activation -> 2x2 max-pool while the map is >= 2x2), then an MLP head."""
    _positive(model_num_conv_layers=num_conv_layers, model_channels=channels, model_kernel_size=kernel_size,
              model_hidden_dim=hidden_dim)
    c, h, w = input_shape
    layers: list[nn.Module] = []
    for i in range(num_conv_layers):
        out = channels * 2**i
        layers += [nn.Conv2d(c, out, kernel_size, padding="same"), nn.BatchNorm2d(out), act()]
        if min(h, w) >= 2:
            layers.append(nn.MaxPool2d(2))
            h, w = h // 2, w // 2
        c = out
    layers += [nn.Flatten(), nn.Linear(c * h * w, hidden_dim), act(), nn.Dropout(dropout),
               nn.Linear(hidden_dim, num_classes)]
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
    """Per-channel standardisation with fixed statistics, so a logged model takes raw [0, 1] pixels."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", mean.detach().clone())
        self.register_buffer("std", std.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def as_served(model: nn.Module, mean: torch.Tensor, std: torch.Tensor) -> nn.Module:
    """The model a user loads from MLflow: raw inputs in, normalised inside, on CPU, in eval mode."""
    return nn.Sequential(Normalize(mean, std), model).cpu().eval()
