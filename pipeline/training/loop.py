"""The training loop: one place where epochs run, for a fold or for the refit.

No I/O happens here; each epoch's record goes to ``on_epoch`` (tracking, progress display and pruning hook
in there). Batches come from ``pipeline.training.batches`` (in-memory tensors or a ``DataLoader``); the optimizer,
scheduler and loss are built from the config (``pipeline.training.builders``).
"""

from __future__ import annotations

import copy
import math
import statistics
from collections.abc import Callable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch import nn

from pipeline import objective
from pipeline.errors import NonFiniteLossError
from pipeline.training.batches import Scaling
from pipeline.training.builders import build_loss, build_optimizer, build_scheduler
from pipeline.training.checks import PRECISIONS
from pipeline.training.metrics import accumulator

EpochHook = Callable[[int, dict[str, float]], None]
LR = "lr"  # each epoch's record: the learning rate it trained at (the first parameter group's)
AUTOCAST = dict(zip(PRECISIONS, (None, torch.bfloat16, torch.float16)))  # trainer.precision -> autocast dtype


class Batches(Protocol):
    """What ``pipeline.training.batches`` provides: scaled ``(inputs, targets)`` batches, shuffled with a generator."""

    def __len__(self) -> int: ...

    def epoch(self, generator: torch.Generator | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]: ...


@dataclass
class FitResult:
    """What one fit produced: per-epoch records, the best epoch (1-based) and its weights."""

    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    best_score: float = math.nan
    best_state: dict[str, torch.Tensor] | None = None


@dataclass
class Targets:
    """What the loop needs to know of what the model predicts: the task, its output count, and the fold's
    scaling (of inputs, and of regression targets)."""

    kind: str  # classification | regression
    num_outputs: int
    scaling: Scaling = field(default_factory=Scaling)


def fit(model: nn.Module, cfg: Any, task: Targets, train: Batches, val: Batches | None = None,
        epochs: int | None = None, seed: int = 0, on_epoch: EpochHook | None = None,
        lr_factors: Sequence[float] | None = None) -> FitResult:
    """Train ``model`` on ``train`` for up to ``epochs`` (default ``cfg.trainer.epochs``).

    With ``val``, each epoch is scored by ``cfg.cv.metric``; early stopping follows
    ``cfg.regularization.early_stopping`` and the best epoch's weights are kept. Without it, all epochs
    run and the last weights are kept (the refit). Each epoch's record holds its learning rate (``lr``).

    A plateau scheduler steps on ``cv.metric``'s validation value; without a validation split it has nothing to
    step on, so it follows ``lr_factors`` instead (epoch ``e`` trains at the optimizer's initial rate times
    ``lr_factors[e - 1]``, the last factor carried on): the refit lowers its rate where the folds lowered theirs.
    """
    epochs = int(epochs if epochs is not None else cfg.trainer.epochs)
    reg, metric = cfg.regularization, objective.metric(cfg.cv.metric)
    optimizer = build_optimizer(cfg, model.parameters())
    scheduler = build_scheduler(cfg, optimizer)
    plateau = isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
    initial_lrs = [group["lr"] for group in optimizer.param_groups]
    criterion = build_loss(cfg, task.kind)
    step = TrainStep(model, optimizer, criterion, task, cfg.trainer.get("precision", 32), float(reg.l1))
    stopper = EarlyStopping(metric.maximize, int(reg.early_stopping.patience), float(reg.early_stopping.min_delta))
    gen = torch.Generator().manual_seed(seed)
    result = FitResult()
    for epoch in range(epochs):
        # train one epoch
        if plateau and val is None and lr_factors:
            set_lrs(optimizer, initial_lrs, lr_factors[min(epoch, len(lr_factors) - 1)])
        lr = float(optimizer.param_groups[0]["lr"])
        train_loss = step.epoch(train, gen)
        if not math.isfinite(train_loss):
            lr = cfg.optimizer.get("lr", "?")
            raise NonFiniteLossError(f"training loss became {train_loss} at epoch {epoch + 1}; "
                                     f"try a smaller optimizer.lr (now {lr})")
        record = {"train_loss": train_loss, LR: lr}
        # evaluate and keep the best weights
        if val is not None:
            record.update({f"val_{k}": v for k, v in evaluate(model, val, task, step.autocast).items()})
            if stopper.update(record[metric.name]):
                result.best_epoch, result.best_score = epoch + 1, record[metric.name]
                result.best_state = copy.deepcopy(model.state_dict())
        result.history.append(record)
        # schedule: once per epoch (a plateau scheduler on the validation metric, when there is one)
        if plateau and val is not None:
            scheduler.step(record[metric.name])
        elif scheduler is not None and not plateau:
            scheduler.step()
        # report: tracking, progress and pruning decisions live behind this hook
        if on_epoch is not None:
            on_epoch(epoch + 1, record)
        if stopper.should_stop:
            break
    if val is None:
        result.best_epoch, result.best_state = len(result.history), copy.deepcopy(model.state_dict())
    return result


class TrainStep:
    """One optimisation step per batch, in ``precision`` (32, bf16 or 16-mixed, with a gradient scaler)."""

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, criterion: nn.Module, task: Targets,
                 precision: Any, l1: float) -> None:
        self.model, self.optimizer, self.criterion, self.task = model, optimizer, criterion, task
        self.device = next(model.parameters()).device
        self.dtype = AUTOCAST[str(precision)]
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.dtype == torch.float16)
        self.l1 = l1
        self.l1_weights = [p for p in model.parameters() if p.dim() > 1] if l1 > 0 else []

    def autocast(self) -> Any:
        if self.dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def epoch(self, train: Batches, gen: torch.Generator) -> float:
        """One pass over ``train`` in shuffled mini-batches; returns the mean training loss."""
        self.model.train()
        total, n = torch.zeros((), device=self.device), 0
        for xb, yb in train.epoch(gen):
            target = self.task.scaling.targets(yb.float()) if self.task.kind == "regression" else yb
            with self.autocast():
                out = self.model(xb)
                loss = self.criterion(_shaped(out, target, self.task.kind).float(), target)
            if self.l1_weights:
                loss = loss + self.l1 * sum(w.abs().sum() for w in self.l1_weights)
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
            total += loss.detach() * len(yb)
            n += len(yb)
        return float(total) / max(n, 1)


@torch.no_grad()
def evaluate(model: nn.Module, data: Batches, task: Targets, autocast: Callable[[], Any] = nullcontext
             ) -> dict[str, float]:
    """The task's metrics (``pipeline.training.metrics``) of ``model`` on ``data``, in the targets' units."""
    model.eval()
    acc = accumulator(task.kind, task.num_outputs)
    for xb, yb in data.epoch():
        with autocast():
            out = model(xb)
        out = out.float()
        if task.kind == "regression":
            out = task.scaling.outputs(out.reshape(len(yb), -1)).reshape(yb.shape)  # (B, T) or (B,), as the targets
        acc.update(out, yb)
    return acc.compute()


def _shaped(out: torch.Tensor, target: torch.Tensor, kind: str) -> torch.Tensor:
    """A regression model's ``(B, 1)`` output for ``(B,)`` targets, reshaped to match them."""
    if kind == "regression" and out.shape != target.shape and out.numel() == target.numel():
        return out.reshape(target.shape)
    return out


def set_lrs(optimizer: torch.optim.Optimizer, initial: Sequence[float], factor: float) -> None:
    """Every parameter group at its initial learning rate times ``factor``."""
    for group, lr in zip(optimizer.param_groups, initial):
        group["lr"] = lr * factor


def lr_factors(histories: Sequence[Sequence[dict[str, float]]], epochs: int) -> list[float]:
    """Per epoch ``1..epochs``, the median over folds of the learning rate relative to its first epoch's: the
    schedule a refit of ``epochs`` follows where it cannot step a plateau scheduler itself. A fold that stopped
    early carries its last rate on; an empty history counts as no change."""
    factors = []
    for e in range(epochs):
        ratios = sorted(h[min(e, len(h) - 1)][LR] / h[0][LR] for h in histories if h and h[0].get(LR))
        factors.append(float(statistics.median(ratios)) if ratios else 1.0)
    return factors


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
        if math.isnan(score):
            self.bad_epochs += 1
            return False
        gain = math.inf if self.best is None else (score - self.best if self.maximize else self.best - score)
        if gain > self.min_delta:
            self.best, self.bad_epochs = score, 0
            return True
        self.bad_epochs += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.patience > 0 and self.bad_epochs >= self.patience
