"""The training loop: one place where epochs run, for a fold or for the refit.

No I/O happens here; each epoch's record goes to ``on_epoch`` (tracking, progress display and
pruning hook in there). Data are in-memory tensors, batched by index to keep per-batch
Python overhead small.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from pipeline import objective
from pipeline.errors import NonFiniteLossError
from pipeline.optim import build_optimizer, lr_factor, set_lr

EVAL_CHUNK = 4096  # samples per forward pass when evaluating

EpochHook = Callable[[int, dict[str, float]], None]


@dataclass
class FitResult:
    """What one fit produced: per-epoch records, the best epoch (1-based) and its weights."""

    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    best_score: float = math.nan
    best_state: dict[str, torch.Tensor] | None = None


def fit(model: nn.Module, cfg: Any, X: torch.Tensor, y: torch.Tensor, X_val: torch.Tensor | None = None,
        y_val: torch.Tensor | None = None, epochs: int | None = None, seed: int = 0,
        on_epoch: EpochHook | None = None) -> FitResult:
    """Train ``model`` on ``(X, y)`` for up to ``epochs`` (default ``cfg.trainer.epochs``).

    With validation data, each epoch is scored by ``cfg.cv.metric``; early stopping follows
    ``cfg.regularization.early_stopping`` and the best epoch's weights are kept. Without it, all
    epochs run and the last weights are kept (the refit).
    """
    epochs = int(epochs if epochs is not None else cfg.trainer.epochs)
    opt_cfg, reg = cfg.optimizer, cfg.regularization
    optimizer = build_optimizer(opt_cfg, model.parameters(), float(reg.weight_decay))
    criterion = nn.CrossEntropyLoss(label_smoothing=float(reg.label_smoothing))
    l1_weights = [p for p in model.parameters() if p.dim() > 1] if reg.l1 > 0 else []
    stopper = EarlyStopping(objective.metric(cfg.cv.metric).maximize, int(reg.early_stopping.patience),
                            float(reg.early_stopping.min_delta))
    gen = torch.Generator().manual_seed(seed)
    result = FitResult()
    for epoch in range(epochs):
        # schedule: the learning rate is a pure function of the epoch
        set_lr(optimizer, float(opt_cfg.lr) * lr_factor(epoch, epochs, opt_cfg.scheduler,
                                                         int(opt_cfg.step_size), float(opt_cfg.gamma)))
        # train one epoch
        train_loss = _train_epoch(model, optimizer, criterion, X, y, int(cfg.trainer.batch_size), gen,
                                  float(reg.l1), l1_weights)
        if not math.isfinite(train_loss):
            raise NonFiniteLossError(f"training loss became {train_loss} at epoch {epoch + 1}; "
                                     f"try a smaller optimizer.lr (now {opt_cfg.lr})")
        record = {"train_loss": train_loss}
        # evaluate and keep the best weights
        if X_val is not None:
            record["val_loss"], record["val_accuracy"] = evaluate(model, X_val, y_val)
            if stopper.update(record[cfg.cv.metric]):
                result.best_epoch, result.best_score = epoch + 1, record[cfg.cv.metric]
                result.best_state = copy.deepcopy(model.state_dict())
        result.history.append(record)
        # report: tracking, progress and pruning decisions live behind this hook
        if on_epoch is not None:
            on_epoch(epoch + 1, record)
        if stopper.should_stop:
            break
    if X_val is None:
        result.best_epoch, result.best_state = len(result.history), copy.deepcopy(model.state_dict())
    return result


def _train_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, criterion: nn.Module, X: torch.Tensor,
                 y: torch.Tensor, batch_size: int, gen: torch.Generator, l1: float,
                 l1_weights: list[torch.Tensor]) -> float:
    """One pass over ``(X, y)`` in shuffled mini-batches; returns the mean training loss."""
    model.train()
    n = len(y)
    perm = torch.randperm(n, generator=gen).to(X.device)
    total = torch.zeros((), device=X.device)
    for start in range(0, n, batch_size):
        idx = perm[start:start + batch_size]
        if len(idx) < 2 and n > 1:  # batch norm cannot train on a single sample
            continue
        loss = criterion(model(X[idx]), y[idx])
        if l1_weights:
            loss = loss + l1 * sum(w.abs().sum() for w in l1_weights)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += loss.detach() * len(idx)
    return float(total) / n


@torch.no_grad()
def evaluate(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Mean cross-entropy (no label smoothing) and accuracy of ``model`` on ``(X, y)``."""
    model.eval()
    loss, correct = 0.0, 0
    for start in range(0, len(y), EVAL_CHUNK):
        logits = model(X[start:start + EVAL_CHUNK])
        target = y[start:start + EVAL_CHUNK]
        loss += float(nn.functional.cross_entropy(logits, target, reduction="sum"))
        correct += int((logits.argmax(1) == target).sum())
    return loss / len(y), correct / len(y)


class EarlyStopping:
    """Tracks the best score (higher is better when ``maximize``); ``should_stop`` after ``patience`` epochs
    without an improvement larger than ``min_delta``."""

    def __init__(self, maximize: bool, patience: int, min_delta: float = 0.0) -> None:
        self.maximize = maximize
        self.patience, self.min_delta = patience, min_delta
        self.best: float | None = None
        self.bad_epochs = 0

    def update(self, score: float) -> bool:
        """Record ``score``; return True when it is a new best."""
        gain = math.inf if self.best is None else (score - self.best if self.maximize else self.best - score)
        if gain > self.min_delta:
            self.best, self.bad_epochs = score, 0
            return True
        self.bad_epochs += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.patience > 0 and self.bad_epochs >= self.patience
