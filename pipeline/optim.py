"""Optimizer and learning-rate schedule builders."""

from __future__ import annotations

import math
from typing import Any

import torch

from pipeline.errors import ConfigError

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
SCHEDULERS = ("none", "cosine", "step")


def build_optimizer(cfg: Any, params: Any, weight_decay: float) -> torch.optim.Optimizer:
    """Build ``cfg.name`` over ``params``; L2 ``weight_decay`` comes from the regularization group."""
    lr = float(cfg.lr)
    if cfg.name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=float(cfg.momentum), nesterov=bool(cfg.nesterov),
                               weight_decay=weight_decay)
    if cfg.name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=(float(cfg.beta1), float(cfg.beta2)),
                                weight_decay=weight_decay)
    if cfg.name == "adamw":
        return torch.optim.AdamW(params, lr=lr, betas=(float(cfg.beta1), float(cfg.beta2)),
                                 weight_decay=weight_decay)
    if cfg.name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, momentum=float(cfg.momentum), alpha=float(cfg.alpha),
                                   weight_decay=weight_decay)
    raise ConfigError(f"optimizer.name={cfg.name!r} is not a known optimizer; expected one of {OPTIMIZERS}")


def lr_factor(epoch: int, total_epochs: int, scheduler: str, step_size: int = 10, gamma: float = 0.5) -> float:
    """Multiplier of the base learning rate at ``epoch`` (0-based) for a run of ``total_epochs``."""
    if scheduler == "none":
        return 1.0
    if scheduler == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * epoch / max(total_epochs, 1)))
    if scheduler == "step":
        return gamma ** (epoch // max(step_size, 1))
    raise ConfigError(f"optimizer.scheduler={scheduler!r} is not supported; expected one of {SCHEDULERS}")


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
