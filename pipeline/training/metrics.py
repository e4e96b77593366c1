"""What each task reports on a validation or test split, accumulated batch by batch (so data read through a
``DataLoader`` is never held whole): pure tensor arithmetic, names as in ``pipeline.objective.TASKS``.

Classification: ``loss`` (mean cross-entropy, no label smoothing), ``accuracy``, ``f1_macro`` (F1 per class,
averaged over the classes present in the targets or the predictions, as scikit-learn's ``f1_score(average=
"macro")``). Regression: ``loss`` (mean squared error), ``rmse``, ``mae``, ``r2`` (``1 - SSE / SST`` per
target, averaged; NaN for a constant target), all in the targets' units.
"""

from __future__ import annotations

import math

import torch


class ClassificationMetrics:
    """Accumulates a confusion matrix ``(K, K)`` and the summed cross-entropy."""

    def __init__(self, num_classes: int) -> None:
        self.confusion = torch.zeros(num_classes, num_classes, dtype=torch.float64)
        self.loss_sum, self.n = 0.0, 0

    def update(self, logits: torch.Tensor, target: torch.Tensor) -> None:
        """``logits`` ``(B, K)``, ``target`` int64 ``(B,)``."""
        logits, target = logits.float(), target.long()
        self.loss_sum += float(torch.nn.functional.cross_entropy(logits, target, reduction="sum"))
        k = self.confusion.shape[0]
        pairs = target * k + logits.argmax(1)
        self.confusion += torch.bincount(pairs.cpu(), minlength=k * k).reshape(k, k).double()
        self.n += len(target)

    def compute(self) -> dict[str, float]:
        c = self.confusion
        tp, predicted, actual = c.diag(), c.sum(0), c.sum(1)
        present = (predicted + actual) > 0
        f1 = torch.where(present, 2 * tp / (predicted + actual).clamp_min(1e-12), torch.zeros_like(tp))
        return {"loss": self.loss_sum / self.n, "accuracy": float(tp.sum() / self.n),
                "f1_macro": float(f1[present].mean()) if present.any() else math.nan}


class RegressionMetrics:
    """Accumulates per-target sums of errors and of targets, in float64."""

    def __init__(self, num_outputs: int) -> None:
        z = torch.zeros(num_outputs, dtype=torch.float64)
        self.sse, self.sae, self.s, self.ss = z.clone(), z.clone(), z.clone(), z.clone()
        self.n = 0

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        """``pred`` and ``target`` ``(B, T)`` (or ``(B,)`` for one target), in the targets' units."""
        pred, target = _2d(pred).double().cpu(), _2d(target).double().cpu()
        err = pred - target
        self.sse += (err ** 2).sum(0)
        self.sae += err.abs().sum(0)
        self.s += target.sum(0)
        self.ss += (target ** 2).sum(0)
        self.n += len(target)

    def compute(self) -> dict[str, float]:
        mse = self.sse / self.n
        sst = self.ss - self.s ** 2 / self.n
        r2 = torch.where(sst > 1e-12 * self.ss.clamp_min(1.0), 1 - self.sse / sst.clamp_min(1e-300),
                         torch.full_like(sst, math.nan))
        return {"loss": float(mse.mean()), "rmse": float(mse.sqrt().mean()), "mae": float((self.sae / self.n).mean()),
                "r2": float(r2.mean())}


def accumulator(task: str, num_outputs: int) -> ClassificationMetrics | RegressionMetrics:
    return ClassificationMetrics(num_outputs) if task == "classification" else RegressionMetrics(num_outputs)


def _2d(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(len(t), -1)
