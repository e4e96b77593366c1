"""Stratified k-fold cross-validation and the refit on the whole training part."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
from sklearn.model_selection import StratifiedKFold

from pipeline.data import Dataset, fold_stats
from pipeline.loop import FitResult, evaluate, fit
from pipeline.models import build_model, count_params


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
    """The model retrained on the whole training part and its held-out test scores."""

    model: torch.nn.Module
    epochs: int
    test_loss: float
    test_accuracy: float
    mean: torch.Tensor
    std: torch.Tensor
    input_shape: tuple[int, int, int]
    num_classes: int


def cross_validate(cfg: Any, data: Dataset, device: torch.device,
                   callbacks: tuple[FoldCallback, ...] = ()) -> CVResult:
    """Train one model per stratified fold; normalisation statistics come from each fold's training part."""
    splitter = StratifiedKFold(n_splits=int(cfg.cv.folds), shuffle=True, random_state=int(cfg.trainer.seed))
    X, y = data.X_train, data.y_train
    result = CVResult()
    for k, (tr, va) in enumerate(splitter.split(np.zeros(len(y)), y.numpy())):
        tr, va = torch.from_numpy(tr), torch.from_numpy(va)
        mean, std = fold_stats(X[tr])
        seed = int(cfg.trainer.seed) + k
        torch.manual_seed(seed)
        model = build_model(cfg.model, data.input_shape, data.num_classes, float(cfg.regularization.dropout))
        model.to(device)
        result.n_params = count_params(model)

        def on_epoch(epoch: int, record: dict[str, float], k: int = k) -> None:
            for cb in callbacks:
                cb.on_epoch_end(k, epoch, record)

        fold = fit(model, cfg, _prep(X[tr], mean, std, device), y[tr].to(device),
                   _prep(X[va], mean, std, device), y[va].to(device), seed=seed, on_epoch=on_epoch)
        result.folds.append(fold)
        for cb in callbacks:
            cb.on_fold_end(k, fold)
    return result


def refit(cfg: Any, data: Dataset, epochs: int, device: torch.device) -> RefitResult:
    """Retrain on the whole training part for ``epochs`` and score once on the held-out test split."""
    mean, std = fold_stats(data.X_train)
    seed = int(cfg.trainer.seed) + int(cfg.cv.folds)
    torch.manual_seed(seed)
    model = build_model(cfg.model, data.input_shape, data.num_classes, float(cfg.regularization.dropout))
    model.to(device)
    fit(model, cfg, _prep(data.X_train, mean, std, device), data.y_train.to(device), epochs=epochs, seed=seed)
    test_loss, test_acc = evaluate(model, _prep(data.X_test, mean, std, device), data.y_test.to(device))
    return RefitResult(model, epochs, test_loss, test_acc, mean, std, data.input_shape, data.num_classes)


def _prep(X: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, device: torch.device) -> torch.Tensor:
    return ((X - mean) / std).to(device)
