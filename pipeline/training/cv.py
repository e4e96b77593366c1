"""k-fold cross-validation (stratified for classification, shuffled for regression) and the refit on the
whole training part, scored once on the held-out test part."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
from sklearn.model_selection import KFold, StratifiedKFold

from pipeline.contract import DataSplit
from pipeline.training.batches import Scaling, batches, fold_scaling
from pipeline.training.builders import build_model, transform_fitter
from pipeline.training.loop import FitResult, Targets, evaluate, fit, lr_factors


def count_params(model: torch.nn.Module) -> int:
    """The model's trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


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

    def lr_factors(self) -> list[float]:
        """The folds' median learning-rate schedule over the refit's epochs (``loop.lr_factors``)."""
        return lr_factors([f.history for f in self.folds], self.refit_epochs())


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
    input_dtype: torch.dtype | None = None
    model_args: dict[str, Any] = field(default_factory=dict)  # the data's (``DataSplit.model_args``)


def fold_indices(data: DataSplit, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(train, validation)`` indices into ``data.train`` for each fold."""
    n = len(data.train)
    if data.task == "classification":
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        return list(splitter.split(np.zeros(n), data.targets.numpy()))
    return list(KFold(n_splits=folds, shuffle=True, random_state=seed).split(np.zeros(n)))


class _Loading:
    """How the trial's data become batches: the trainer's batch size, loader workers and normalisation."""

    def __init__(self, cfg: Any, data: DataSplit, device: torch.device) -> None:
        t = cfg.trainer
        self.data, self.device = data, device
        self.batch_size, self.workers = int(t.batch_size), int(t.get("num_workers", 0))
        self.normalize = bool(t.get("normalize", True))
        self.fit_transform = transform_fitter(cfg.get("preprocess"))

    def training(self, indices: np.ndarray | None) -> tuple[Scaling, Any]:
        """The scaling fitted on ``indices`` of the training part (None: all of it), and its training batches
        (with the training-only transform)."""
        d = self.data
        fitted_on = np.arange(len(d.train)) if indices is None else indices
        scaling = fold_scaling(d.train, fitted_on, d.task, self.normalize, self.workers, self.fit_transform,
                               d.collate)
        return scaling, batches(d.train, indices, scaling, self.device, self.batch_size, d.train_transform,
                                self.workers, d.collate)

    def scoring(self, part: Any, indices: np.ndarray | None, scaling: Scaling) -> Any:
        return batches(part, indices, scaling, self.device, self.batch_size, None, self.workers, self.data.collate)


def _seeded_model(cfg: Any, data: DataSplit, seed: int, device: torch.device, scaling: Scaling) -> torch.nn.Module:
    torch.manual_seed(seed)
    args = scaling.model_args(tuple(data.input_shape), data.input_dtype, data.model_args)
    return build_model(cfg, args.pop("input_shape"), data.num_outputs, **args).to(device)


def cross_validate(cfg: Any, data: DataSplit, device: torch.device,
                   callbacks: tuple[FoldCallback, ...] = ()) -> CVResult:
    """Train one model per fold; scaling statistics come from each fold's training part."""
    result, loading = CVResult(), _Loading(cfg, data, device)
    for k, (tr, va) in enumerate(fold_indices(data, int(cfg.cv.folds), int(cfg.trainer.seed))):
        scaling, train = loading.training(tr)
        val = loading.scoring(data.train, va, scaling)
        seed = int(cfg.trainer.seed) + k
        model = _seeded_model(cfg, data, seed, device, scaling)
        result.n_params = count_params(model)

        def on_epoch(epoch: int, record: dict[str, float], k: int = k) -> None:
            for cb in callbacks:
                cb.on_epoch_end(k, epoch, record)

        fold = fit(model, cfg, Targets(data.task, data.num_outputs, scaling.to(device)), train, val, seed=seed,
                   on_epoch=on_epoch)
        result.folds.append(fold)
        for cb in callbacks:
            cb.on_fold_end(k, fold)
    return result


def refit(cfg: Any, data: DataSplit, epochs: int, device: torch.device,
          lr_factors: list[float] | None = None) -> RefitResult:
    """Retrain on the whole training part for ``epochs`` and score once on the held-out test part. A plateau
    scheduler, with no validation split to step on, follows ``lr_factors`` (``CVResult.lr_factors``): the
    refit trains at the rates the folds that chose its length trained at."""
    loading = _Loading(cfg, data, device)
    scaling, train = loading.training(None)
    seed = int(cfg.trainer.seed) + int(cfg.cv.folds)
    model = _seeded_model(cfg, data, seed, device, scaling)
    task = Targets(data.task, data.num_outputs, scaling.to(device))
    fit(model, cfg, task, train, epochs=epochs, seed=seed, lr_factors=lr_factors)
    scores = {f"test_{k}": v for k, v in evaluate(model, loading.scoring(data.test, None, scaling), task).items()}
    return RefitResult(model, epochs, scores, scaling, tuple(data.input_shape), int(data.num_outputs), data.task,
                       data.input_dtype, dict(data.model_args))
