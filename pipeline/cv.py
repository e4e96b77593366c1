"""k-fold cross-validation (stratified for classification, shuffled for regression) and the refit on the
whole training part, scored once on the held-out test part."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
from sklearn.model_selection import KFold, StratifiedKFold

from pipeline.batches import Scaling, batches, fold_scaling
from pipeline.builders import build_model
from pipeline.contract import DataSplit
from pipeline.loop import FitResult, Task, evaluate, fit
from pipeline.models import count_params


class FoldCallback(Protocol):
    """Receives what the k-fold loop produces; tracking, progress and pruning implement it."""

    def on_epoch_end(self, fold: int, epoch: int, record: dict[str, float]) -> None: ...

    def on_fold_end(self, fold: int, result: FitResult) -> None: ...


@dataclass
class CVResult:
    """Per-fold fits and their scores at each fold's best epoch."""

    folds: list[FitResult] = field(default_factory=list)
    n_params: int = 0

    @property
    def scores(self) -> list[float]:
        return [f.best_score for f in self.folds]

    @property
    def mean(self) -> float:
        return float(np.mean(self.scores))

    @property
    def std(self) -> float:
        return float(np.std(self.scores))

    @property
    def best_epochs(self) -> list[int]:
        return [f.best_epoch for f in self.folds]

    def refit_epochs(self) -> int:
        """The median best-epoch count over folds (at least 1): how long the refit trains."""
        return max(1, int(round(statistics.median(self.best_epochs))))


@dataclass
class RefitResult:
    """The model retrained on the whole training part, its held-out test scores (``test_<metric>``), and what
    rebuilds and serves it."""

    model: torch.nn.Module
    epochs: int
    test: dict[str, float]
    scaling: Scaling
    input_shape: tuple[int, ...]
    num_outputs: int
    task: str


def fold_indices(data: DataSplit, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(train, validation)`` indices into ``data.train`` for each fold."""
    n = len(data.train)
    if data.task == "classification":
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        return list(splitter.split(np.zeros(n), data.targets.numpy()))
    return list(KFold(n_splits=folds, shuffle=True, random_state=seed).split(np.zeros(n)))


def cross_validate(cfg: Any, data: DataSplit, device: torch.device,
                   callbacks: tuple[FoldCallback, ...] = ()) -> CVResult:
    """Train one model per fold; scaling statistics come from each fold's training part."""
    result = CVResult()
    t = cfg.trainer
    for k, (tr, va) in enumerate(fold_indices(data, int(cfg.cv.folds), int(t.seed))):
        scaling = fold_scaling(data.train, tr, data.task, bool(t.get("normalize", True)), int(t.get("num_workers", 0)))
        train = batches(data.train, tr, scaling, device, int(t.batch_size), data.train_transform,
                        int(t.get("num_workers", 0)))
        val = batches(data.train, va, scaling, device, int(t.batch_size), None, int(t.get("num_workers", 0)))
        seed = int(t.seed) + k
        torch.manual_seed(seed)
        model = build_model(cfg, data.input_shape, data.num_outputs).to(device)
        result.n_params = count_params(model)

        def on_epoch(epoch: int, record: dict[str, float], k: int = k) -> None:
            for cb in callbacks:
                cb.on_epoch_end(k, epoch, record)

        fold = fit(model, cfg, Task(data.task, data.num_outputs, scaling.to(device)), train, val, seed=seed,
                   on_epoch=on_epoch)
        result.folds.append(fold)
        for cb in callbacks:
            cb.on_fold_end(k, fold)
    return result


def refit(cfg: Any, data: DataSplit, epochs: int, device: torch.device) -> RefitResult:
    """Retrain on the whole training part for ``epochs`` and score once on the held-out test part."""
    t = cfg.trainer
    everything = np.arange(len(data.train))
    scaling = fold_scaling(data.train, everything, data.task, bool(t.get("normalize", True)),
                           int(t.get("num_workers", 0)))
    train = batches(data.train, None, scaling, device, int(t.batch_size), data.train_transform,
                    int(t.get("num_workers", 0)))
    test = batches(data.test, None, scaling, device, int(t.batch_size), None, int(t.get("num_workers", 0)))
    seed = int(t.seed) + int(cfg.cv.folds)
    torch.manual_seed(seed)
    model = build_model(cfg, data.input_shape, data.num_outputs).to(device)
    task = Task(data.task, data.num_outputs, scaling.to(device))
    fit(model, cfg, task, train, epochs=epochs, seed=seed)
    scores = {f"test_{k}": v for k, v in evaluate(model, test, task).items()}
    return RefitResult(model, epochs, scores, scaling, tuple(data.input_shape), int(data.num_outputs), data.task)
