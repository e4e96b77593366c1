"""Built-in model factories (``conf/model/mlp.yaml``, ``cnn.yaml``): ordinary entries of the plug-in
contract (``pipeline.contract``), called as ``factory(input_shape=..., num_outputs=...)``.

The wrapper that makes a trained model take raw inputs lives in ``pipeline.results.serving``; models logged
before the package was regrouped name its parts here, so their pickles still load (``__getattr__``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from pipeline.errors import ConfigError

ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid,
               "leaky_relu": nn.LeakyReLU}


def mlp(input_shape: Sequence[int], num_outputs: int, num_layers: int = 2, hidden_dim: int = 128,
        activation: str = "relu", batch_norm: bool = False, dropout: float = 0.0) -> nn.Sequential:
    """Flatten, then ``num_layers`` blocks of linear (-> batch norm) -> activation -> dropout, then a linear head.

    Takes samples of any shape (images ``(C, H, W)``, tables ``(F,)``).
    """
    _positive(model_num_layers=num_layers, model_hidden_dim=hidden_dim, allow_zero=("model_num_layers",))
    _flag("model.batch_norm", batch_norm)
    _fraction("model.dropout", dropout)
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
    _positive(model_num_conv_layers=num_conv_layers, model_channels=channels, model_kernel_size=kernel_size,
              model_hidden_dim=hidden_dim)
    _fraction("model.dropout", dropout)
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


def _activation(name: str) -> type[nn.Module]:
    if name not in ACTIVATIONS:
        raise ConfigError(f"model.activation={name!r} is not supported; expected one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]


def _positive(allow_zero: tuple[str, ...] = (), **values: int) -> None:
    for key, v in values.items():
        low = 0 if key in allow_zero else 1
        if not isinstance(v, int) or isinstance(v, bool) or v < low:
            raise ConfigError(f"{key.replace('_', '.', 1)}={v!r} is invalid: expected an integer >= {low}")


def _flag(key: str, value: object) -> None:
    if not isinstance(value, bool):
        raise ConfigError(f"{key}={value!r} is invalid: expected true or false")


def _fraction(key: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ConfigError(f"{key}={value!r} is invalid: expected a number in [0, 1)")


_MOVED = ("Normalize", "InputShape", "as_served")  # now in pipeline.results.serving


def __getattr__(name: str) -> Any:
    """``pipeline.models.InputShape`` and ``Normalize``, as pickles of models logged before the move name them."""
    if name in _MOVED:
        from pipeline.results import serving

        return getattr(serving, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
