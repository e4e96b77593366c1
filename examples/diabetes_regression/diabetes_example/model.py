"""The model factory: called as ``regressor(input_shape=(10,), num_outputs=1, **conf/model/regressor.yaml)``."""

from __future__ import annotations

from torch import nn


def regressor(input_shape: tuple[int, ...], num_outputs: int, width: int = 64, depth: int = 2,
              dropout: float = 0.0) -> nn.Module:
    """A residual-free MLP with SiLU activations and layer norm, for tabular features ``(F,)``."""
    if len(input_shape) != 1:
        raise ValueError(f"regressor expects tabular samples (F,), got {tuple(input_shape)}")
    layers: list[nn.Module] = []
    width_in = input_shape[0]
    for _ in range(depth):
        layers += [nn.Linear(width_in, width), nn.LayerNorm(width), nn.SiLU(), nn.Dropout(dropout)]
        width_in = width
    return nn.Sequential(*layers, nn.Linear(width_in, num_outputs))
