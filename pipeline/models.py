"""Built-in model factories (``conf/model/mlp.yaml``, ``cnn.yaml``, ``net.yaml``): ordinary entries of the plug-in
contract (``pipeline.contract``), called as ``factory(input_shape=..., num_outputs=...)``.

The wrapper that makes a trained model take raw inputs lives in ``pipeline.results.serving``; models logged
before the package was regrouped name its parts here, so their pickles still load (``__getattr__``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

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


NORMS = ("none", "batch", "layer")
MAX_DEPTH = 8


def net(input_shape: Sequence[int], num_outputs: int, depth: int = 2, dropout: float = 0.0,
        **layers: Mapping[str, Any]) -> nn.Module:
    """A searchable architecture: ``depth`` blocks, block ``i`` described by ``layer<i>`` (``width``, ``activation``,
    ``norm`` none|batch|layer, ``skip`` (a residual connection, projected when the width changes) and, for images,
    ``kernel``), then a linear head. Images ``(C, H, W)`` go through conv blocks (each followed by a 2x2 max-pool
    while the map is at least 2x2) and a global average pool; other samples are flattened into dense blocks.
    Layers past ``depth`` are ignored: a sweep searches them only where ``depth`` reaches them
    (``conf/sweep/architecture.yaml``)."""
    _positive(model_depth=depth)
    if depth > MAX_DEPTH:
        raise ConfigError(f"model.depth={depth!r} is invalid: expected an integer in [1, {MAX_DEPTH}]")
    _fraction("model.dropout", dropout)
    specs = []
    for i in range(1, int(depth) + 1):
        if f"layer{i}" not in layers:
            raise ConfigError(f"model.depth={depth} but model.layer{i} is not given: expected a layer{i} entry "
                              "(width, activation, norm, skip, kernel) for every block up to depth")
        specs.append(_layer_spec(i, layers[f"layer{i}"]))
    unknown = sorted(k for k in layers if not (k.startswith("layer") and k[5:].isdigit()))
    if unknown:
        raise ConfigError(f"model.{unknown[0]} is not an argument of model=net: expected depth, dropout, layer<i>")
    image = len(input_shape) == 3
    blocks, width = [], int(input_shape[0]) if image else _numel(input_shape)
    h, w = (int(input_shape[1]), int(input_shape[2])) if image else (1, 1)
    for spec in specs:
        pool = image and min(h, w) >= 2
        blocks.append(_Block(width, spec, image, pool, float(dropout)))
        width = spec["width"]
        h, w = (h // 2, w // 2) if pool else (h, w)
    head = [nn.AdaptiveAvgPool2d(1)] if image else []
    return nn.Sequential(*([] if image else [nn.Flatten()]), *blocks, *head, nn.Flatten(),
                         nn.Linear(width, int(num_outputs)))


class _Block(nn.Module):
    """conv (or linear) -> norm -> activation -> dropout (-> 2x2 max-pool), plus the input when ``skip``."""

    def __init__(self, width_in: int, spec: Mapping[str, Any], image: bool, pool: bool, dropout: float) -> None:
        super().__init__()
        out = spec["width"]
        if image:
            self.op = nn.Conv2d(width_in, out, spec["kernel"], padding="same")
            self.norm = {"none": nn.Identity(), "batch": nn.BatchNorm2d(out), "layer": nn.GroupNorm(1, out)}[
                spec["norm"]]
            self.project = nn.Conv2d(width_in, out, 1) if spec["skip"] and width_in != out else nn.Identity()
        else:
            self.op = nn.Linear(width_in, out)
            self.norm = {"none": nn.Identity(), "batch": nn.BatchNorm1d(out), "layer": nn.LayerNorm(out)}[
                spec["norm"]]
            self.project = nn.Linear(width_in, out) if spec["skip"] and width_in != out else nn.Identity()
        self.act, self.drop = _activation(spec["activation"])(), nn.Dropout(dropout)
        self.skip, self.pool = bool(spec["skip"]), nn.MaxPool2d(2) if pool else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.drop(self.act(self.norm(self.op(x))))
        if self.skip:
            y = y + self.project(x)
        return self.pool(y)


def _layer_spec(i: int, layer: Mapping[str, Any]) -> dict[str, Any]:
    key = f"model.layer{i}"
    if not isinstance(layer, Mapping):
        raise ConfigError(f"{key}={layer!r} is invalid: expected a mapping of width, activation, norm, skip, kernel")
    spec = {"width": 64, "activation": "relu", "norm": "none", "skip": False, "kernel": 3, **dict(layer)}
    unknown = sorted(set(spec) - {"width", "activation", "norm", "skip", "kernel"})
    if unknown:
        raise ConfigError(f"{key}.{unknown[0]} is not a layer setting: expected width, activation, norm, skip, kernel")
    _positive(**{f"model_layer{i}.width": spec["width"], f"model_layer{i}.kernel": spec["kernel"]})
    if spec["norm"] not in NORMS:
        raise ConfigError(f"{key}.norm={spec['norm']!r} is not supported; expected one of {list(NORMS)}")
    _flag(f"{key}.skip", spec["skip"])
    if spec["activation"] not in ACTIVATIONS:
        raise ConfigError(f"{key}.activation={spec['activation']!r} is not supported; expected one of "
                          f"{sorted(ACTIVATIONS)}")
    return spec


def _numel(shape: Sequence[int]) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


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
