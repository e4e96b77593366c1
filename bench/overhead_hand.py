"""bench/train_overhead.py reference: a minimal hand-written torch loop doing the pipeline's work, untracked.

Each fold's inputs are prepared once, as a hand-written loop would: floating inputs standardised with the fold's
training statistics (integer inputs, token ids, never); with a ``preprocess`` entry, its transform fitted on the
fold's (standardised) training inputs by the same factory (``builders.fit_transform_of``) and applied to the fold's
inputs once; the model built with the data's ``model_args`` updated by the transform's (``vocab_size``,
``padding_idx``)."""

from __future__ import annotations

import math
import os
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.model_selection import StratifiedKFold  # noqa: E402
from torch import nn  # noqa: E402

from bench.overhead_profile import BUILD, CV_SELF, EVALUATE, LOAD, PREP, PROF, REFIT_SELF, STATS, TRAIN_EPOCH  # noqa: E402
from pipeline.data import load_data  # noqa: E402
from pipeline.training.batches import TRANSFORM_FIT_MAX  # noqa: E402
from pipeline.training.builders import build_model, build_optimizer, build_scheduler, fit_transform_of  # noqa: E402


def hand_train_epoch(model: nn.Module, opt: torch.optim.Optimizer, loss_fn: nn.Module, X: torch.Tensor,
                     y: torch.Tensor, batch_size: int, gen: torch.Generator, l1: float) -> float:
    model.train()
    n = len(y)
    perm = torch.randperm(n, generator=gen).to(X.device)
    total = torch.zeros((), device=X.device)
    for start in range(0, n, batch_size):
        idx = perm[start:start + batch_size]
        if len(idx) < 2:  # as the pipeline: batch norm cannot train on one sample
            continue
        loss = loss_fn(model(X[idx]), y[idx])
        if l1 > 0:
            loss = loss + l1 * sum(p.abs().sum() for p in model.parameters() if p.dim() > 1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total += loss.detach() * len(idx)
    return float(total) / n


@torch.no_grad()
def hand_evaluate(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    model.eval()
    logits = model(X)
    return float(nn.functional.cross_entropy(logits, y)), int((logits.argmax(1) == y).sum()) / len(y)


_hand_train_epoch = PROF.wrap(TRAIN_EPOCH, hand_train_epoch)
_hand_evaluate = PROF.wrap(EVALUATE, hand_evaluate)


def fold_stats(X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and population std in float64, as the pipeline computes them."""
    x = X.double().transpose(0, 1).reshape(X.shape[1], -1)
    n = x.shape[1]
    mean = x.sum(1) / n
    std = ((x ** 2).sum(1) / n - mean ** 2).clamp_min(0).sqrt()
    shape = (1, -1, *([1] * (X.dim() - 2)))
    return mean.float().reshape(shape), std.float().clamp_min(1e-6).reshape(shape)


timed_load = PROF.wrap(LOAD, load_data)
_build = PROF.wrap(BUILD, build_model)


def _norm(X: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, device: torch.device) -> torch.Tensor:
    return ((X - mean) / std).to(device)


_norm_t = PROF.wrap(PREP, _norm)


def fit_transform(cfg: Any, X: torch.Tensor) -> nn.Module:
    """The ``preprocess`` transform fitted on ``X`` (a fold's training inputs, standardised where floating), on at
    most ``TRANSFORM_FIT_MAX`` of them, the seeded subset the pipeline takes."""
    if len(X) > TRANSFORM_FIT_MAX:
        X = X[torch.from_numpy(np.sort(np.random.default_rng(0).choice(len(X), TRANSFORM_FIT_MAX, replace=False)))]
    return fit_transform_of(cfg.preprocess, X)


@torch.no_grad()
def _transformed(X: torch.Tensor, mean: torch.Tensor | None, std: torch.Tensor | None, transform: nn.Module,
                 device: torch.device) -> torch.Tensor:
    x = X.to(device) if mean is None else _norm(X, mean, std, device)
    return transform.to(device)(x)


def fold_fit(cfg: Any, X: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None, nn.Module | None]:
    """What a fold learns from its training inputs ``X``: standardisation statistics (floating inputs, with
    ``trainer.normalize``) and the ``preprocess`` transform, fitted on the standardised inputs (None where absent)."""
    scaled = X.is_floating_point() and bool(cfg.trainer.get("normalize", True))
    mean, std = fold_stats(X) if scaled else (None, None)
    entry = cfg.get("preprocess")
    if entry is None or not entry.get("_target_"):
        return mean, std, None
    return mean, std, fit_transform(cfg, X if mean is None else _norm(X, mean, std, torch.device("cpu")))


_fit_t = PROF.wrap(STATS, fold_fit)  # one call per fold, as the pipeline's fold_scaling
_transformed_t = PROF.wrap(PREP, _transformed)


def _move(X: torch.Tensor, device: torch.device) -> torch.Tensor:
    return X.to(device)


_move_t = PROF.wrap(PREP, _move)


def _prepared(cfg: Any, data: Any, fit_on: torch.Tensor, parts: list[torch.Tensor], device: torch.device
              ) -> tuple[list[torch.Tensor], tuple[tuple[int, ...], dict[str, Any]]]:
    """``parts`` as the model takes them, with what is learnt from ``fit_on`` (the fold's training inputs), and what
    the model factory gets besides ``num_outputs``: the sample shape and the extra arguments."""
    mean, std, transform = _fit_t(cfg, fit_on)
    if transform is None:
        out = [_move_t(x, device) if mean is None else _norm_t(x, mean, std, device) for x in parts]
        return out, (tuple(data.input_shape), dict(data.model_args))
    out = [_transformed_t(x, mean, std, transform, device) for x in parts]
    return out, (tuple(out[0].shape[1:]), {**data.model_args, **(getattr(transform, "model_args", None) or {})})


def _hand_train(cfg: Any, data: Any, model_in: tuple[tuple[int, ...], dict[str, Any]], X: torch.Tensor,
                y: torch.Tensor, epochs: int, seed: int, device: torch.device, X_val: torch.Tensor | None = None,
                y_val: torch.Tensor | None = None) -> tuple[nn.Module, list[float]]:
    torch.manual_seed(seed)
    shape, args = model_in
    model = _build(cfg, shape, data.num_outputs, **args).to(device)
    opt = build_optimizer(cfg, model.parameters())
    sched = build_scheduler(cfg, opt)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=float(cfg.regularization.label_smoothing))
    gen = torch.Generator().manual_seed(seed)
    scores = []
    for _ in range(epochs):
        _hand_train_epoch(model, opt, loss_fn, X, y, int(cfg.trainer.batch_size), gen,
                          float(cfg.regularization.l1))
        if X_val is not None:
            val_loss, val_acc = _hand_evaluate(model, X_val, y_val)
            scores.append(val_acc if cfg.cv.metric == "val_accuracy" else val_loss)
        if sched is not None:
            sched.step()
    return model, scores


def _hand_cv(cfg: Any, data: Any, epochs_per_fold: list[int], device: torch.device) -> list[list[float]]:
    folds = StratifiedKFold(n_splits=int(cfg.cv.folds), shuffle=True, random_state=int(cfg.trainer.seed))
    X, y = data.train.X, data.train.y
    curves = []
    for k, (tr, va) in enumerate(folds.split(np.zeros(len(y)), y.numpy())):
        tr, va = torch.from_numpy(tr), torch.from_numpy(va)
        (X_tr, X_va), model_in = _prepared(cfg, data, X[tr], [X[tr], X[va]], device)
        _, scores = _hand_train(cfg, data, model_in, X_tr, y[tr].to(device),
                                epochs_per_fold[k], int(cfg.trainer.seed) + k, device, X_va, y[va].to(device))
        curves.append(scores)
    return curves


def _hand_refit(cfg: Any, data: Any, epochs: int, device: torch.device) -> float:
    (X_train, X_test), model_in = _prepared(cfg, data, data.train.X, [data.train.X, data.test.X], device)
    model, _ = _hand_train(cfg, data, model_in, X_train, data.train.y.to(device), epochs,
                           int(cfg.trainer.seed) + int(cfg.cv.folds), device)
    return _hand_evaluate(model, X_test, data.test.y.to(device))[1]


_hand_cv_t = PROF.wrap(CV_SELF, _hand_cv)
_hand_refit_t = PROF.wrap(REFIT_SELF, _hand_refit)


def run_hand(cfg: Any, epochs_per_fold: list[int], refit_epochs: int, device: torch.device) -> dict[str, Any]:
    data = timed_load(cfg.data)
    curves = _hand_cv_t(cfg, data, epochs_per_fold, device)
    test_acc = _hand_refit_t(cfg, data, refit_epochs, device) if cfg.cv.refit else math.nan
    return {"curves": curves, "test_accuracy": test_acc}
