"""How the chosen model behaves on its held-out test split: a classifier's confusion matrix, per-class precision,
recall and F1, its most confused pairs (with the test samples that show them) and its calibration; a regressor's
residuals. numpy and scikit-learn only: the caller runs the model and passes its outputs as arrays.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

N_BINS = 15          # calibration: equal-width confidence bins, as Guo et al. (2017) use
TOP_PAIRS = 5        # the most confused (true, predicted) pairs kept
EXAMPLES = 4         # test samples kept per confused pair
SUM_TOLERANCE = 1e-3  # a row of probabilities sums to 1 within this
DIGITS = 6           # decimals kept in JSON


@dataclass(frozen=True)
class CalibrationBin:
    """One non-empty confidence bin ``(lower, upper]`` of the reliability diagram."""

    lower: float
    upper: float
    confidence: float  # mean top-label confidence of the bin's samples
    accuracy: float    # share of them predicted right
    count: int


@dataclass(frozen=True)
class ConfusedPair:
    """Test samples of class ``true`` predicted as ``predicted``: ``count`` of them; ``indices`` the test indices of
    up to ``EXAMPLES`` of them, the most confident mistakes first, with that ``confidence``."""

    true: int
    predicted: int
    count: int
    indices: tuple[int, ...]
    confidence: tuple[float, ...]


# eq=False: fields are arrays, whose == is elementwise (a generated __eq__/__hash__ would fail on them)
@dataclass(frozen=True, eq=False)
class ClassReport:
    """A classifier on ``n`` test samples of ``k`` classes. ``confusion (k, k)``: rows the true class, columns the
    predicted one; ``precision``, ``recall``, ``f1``, ``support`` ``(k,)``; ``ece`` the expected calibration error of
    the top-label confidence over ``reliability`` (non-empty bins only); ``pairs`` the most confused pairs off the
    diagonal, most counts first."""

    labels: tuple[str, ...]
    confusion: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    support: np.ndarray
    accuracy: float
    macro_f1: float
    ece: float
    n_bins: int
    reliability: tuple[CalibrationBin, ...]
    pairs: tuple[ConfusedPair, ...]

    def per_class_rows(self) -> list[dict[str, Any]]:
        """One row per class for a CSV: class, precision, recall, f1, support."""
        return [{"class": name, "precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
                for name, p, r, f, s in zip(self.labels, self.precision, self.recall, self.f1, self.support)]

    def as_json(self) -> dict[str, Any]:
        """Plain lists and numbers (class names next to indices), rounded to ``DIGITS`` decimals."""
        return {
            "labels": list(self.labels), "n": int(self.confusion.sum()), "accuracy": _round(self.accuracy),
            "macro_f1": _round(self.macro_f1), "ece": _round(self.ece), "n_bins": self.n_bins,
            "confusion": self.confusion.astype(int).tolist(),
            "per_class": [{k: _round(v) if isinstance(v, float) else v for k, v in row.items()}
                          for row in self.per_class_rows()],
            "reliability": [{"lower": _round(b.lower), "upper": _round(b.upper), "confidence": _round(b.confidence),
                             "accuracy": _round(b.accuracy), "count": b.count} for b in self.reliability],
            "pairs": [{"true": self.labels[p.true], "predicted": self.labels[p.predicted], "true_index": p.true,
                       "predicted_index": p.predicted, "count": p.count, "indices": list(p.indices),
                       "confidence": [_round(c) for c in p.confidence]} for p in self.pairs],
        }


def probabilities(logits: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, computed from ``logits - max`` so that large logits do not overflow.
    ``(n, k)`` -> ``(n, k)``, rows summing to 1."""
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim < 1 or z.shape[-1] < 1:
        raise ValueError(f"logits of shape {z.shape} have no class axis: expected (n, k)")
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def classification_report(y_true: np.ndarray, proba: np.ndarray, labels: Sequence[str] | None = None,
                          n_bins: int = N_BINS, top_pairs: int = TOP_PAIRS, examples: int = EXAMPLES) -> ClassReport:
    """The report of a classifier from the true classes ``y_true (n,)`` (integers in ``[0, k)``) and its predicted
    probabilities ``proba (n, k)`` (rows summing to 1: ``probabilities(logits)``); the prediction is each row's
    argmax. ``labels``: the ``k`` class names (default ``"0" .. "k-1"``)."""
    from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

    y, p = _check_classes(y_true, proba)
    k = p.shape[1]
    names = tuple(str(i) for i in range(k)) if labels is None else tuple(str(n) for n in labels)
    if len(names) != k:
        raise ValueError(f"{len(names)} labels given for proba of shape {p.shape}: expected {k}")
    for key, value, low in (("n_bins", n_bins, 1), ("top_pairs", top_pairs, 0), ("examples", examples, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{key}={value!r} is invalid: expected an integer >= {low}")
    pred, conf = p.argmax(axis=1), p.max(axis=1)
    classes = np.arange(k)
    confusion = confusion_matrix(y, pred, labels=classes)
    precision, recall, f1, support = precision_recall_fscore_support(y, pred, labels=classes, zero_division=0)
    bins = reliability_bins(conf, pred == y, n_bins)
    return ClassReport(labels=names, confusion=confusion, precision=precision, recall=recall, f1=f1,
                       support=support, accuracy=float(np.mean(pred == y)),
                       macro_f1=float(f1_score(y, pred, labels=classes, average="macro", zero_division=0)),
                       ece=expected_calibration_error(bins, len(y)), n_bins=n_bins, reliability=bins,
                       pairs=confused_pairs(confusion, y, pred, conf, top_pairs, examples))


def reliability_bins(confidence: np.ndarray, correct: np.ndarray, n_bins: int = N_BINS
                     ) -> tuple[CalibrationBin, ...]:
    """Samples by top-label ``confidence (n,)`` in ``n_bins`` equal-width bins ``((m-1)/M, m/M]`` (a confidence of 0
    falls in the first), with the share of them ``correct (n,)``: the non-empty bins, lowest first."""
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.ceil(confidence * n_bins).astype(int) - 1, 0, n_bins - 1)
    out = []
    for b in range(n_bins):
        inside = which == b
        if inside.any():
            out.append(CalibrationBin(float(edges[b]), float(edges[b + 1]), float(confidence[inside].mean()),
                                      float(correct[inside].mean()), int(inside.sum())))
    return tuple(out)


def expected_calibration_error(bins: Sequence[CalibrationBin], n: int) -> float:
    """``sum_b |B_b| / n * |acc(B_b) - conf(B_b)|`` (Guo et al. 2017, "On Calibration of Modern Neural Networks",
    eq. 3): the gap between confidence and accuracy, weighted by each bin's share of the samples."""
    if n < 1:
        raise ValueError(f"{n=} must be >= 1")
    return float(sum(b.count / n * abs(b.accuracy - b.confidence) for b in bins))


def confused_pairs(confusion: np.ndarray, y_true: np.ndarray, pred: np.ndarray, confidence: np.ndarray,
                   top: int = TOP_PAIRS, examples: int = EXAMPLES) -> tuple[ConfusedPair, ...]:
    """The ``top`` off-diagonal cells of ``confusion (k, k)`` with a count, most counts first (ties in row-major
    order), each with the indices of up to ``examples`` of its samples, highest ``confidence (n,)`` first (ties by
    index)."""
    cells = [(int(confusion[t, q]), t, q) for t in range(len(confusion)) for q in range(len(confusion))
             if t != q and confusion[t, q] > 0]
    cells.sort(key=lambda c: -c[0])  # Python's sort is stable: equal counts keep row-major order
    out = []
    for count, t, q in cells[:top]:
        idx = np.flatnonzero((y_true == t) & (pred == q))
        idx = idx[np.argsort(-confidence[idx], kind="stable")][:examples]
        out.append(ConfusedPair(t, q, count, tuple(int(i) for i in idx),
                                tuple(float(confidence[i]) for i in idx)))
    return tuple(out)


# eq=False: fields are arrays (see ClassReport)
@dataclass(frozen=True, eq=False)
class RegressionReport:
    """A regressor on ``n`` test samples of ``m`` outputs: ``y_true``, ``y_pred`` and ``residuals`` (true minus
    predicted) as given, ``(n,)`` or ``(n, m)``; ``rmse``, ``mae``, ``r2`` averaged over the outputs (uniformly),
    ``per_output`` each output's own when there are several."""

    y_true: np.ndarray
    y_pred: np.ndarray
    residuals: np.ndarray
    rmse: float
    mae: float
    r2: float
    per_output: tuple[dict[str, float], ...]

    def rows(self) -> list[dict[str, Any]]:
        """Per-sample rows for a CSV: index, true, predicted, residual (and the output's index with several)."""
        if self.y_true.ndim == 1:
            return [{"index": i, "true": float(t), "predicted": float(p), "residual": float(r)}
                    for i, (t, p, r) in enumerate(zip(self.y_true, self.y_pred, self.residuals))]
        return [{"index": i, "output": j, "true": float(self.y_true[i, j]), "predicted": float(self.y_pred[i, j]),
                 "residual": float(self.residuals[i, j])}
                for i in range(len(self.y_true)) for j in range(self.y_true.shape[1])]

    def as_json(self) -> dict[str, Any]:
        """The summary (not the samples: ``rows`` has them), rounded to ``DIGITS`` decimals."""
        return {"n": int(len(self.y_true)), "outputs": 1 if self.y_true.ndim == 1 else int(self.y_true.shape[1]),
                "rmse": _round(self.rmse), "mae": _round(self.mae), "r2": _round(self.r2),
                "residual_mean": _round(float(self.residuals.mean())),
                "residual_std": _round(float(self.residuals.std())),
                "per_output": [{k: _round(v) for k, v in o.items()} for o in self.per_output]}


def regression_report(y_true: np.ndarray, y_pred: np.ndarray) -> RegressionReport:
    """The report of a regressor from its targets and predictions, both ``(n,)`` or ``(n, m)`` of one shape
    (``(n, 1)`` is read as ``(n,)``). R^2 is NaN with fewer than 2 samples."""
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    t, p = np.asarray(y_true, dtype=np.float64), np.asarray(y_pred, dtype=np.float64)
    t, p = (t[:, 0] if t.ndim == 2 and t.shape[1] == 1 else t), (p[:, 0] if p.ndim == 2 and p.shape[1] == 1 else p)
    if t.shape != p.shape or t.ndim not in (1, 2) or len(t) < 1:
        raise ValueError(f"y_true of shape {np.shape(y_true)} and y_pred of shape {np.shape(y_pred)}: expected one "
                         "shape, (n,) or (n, m) with n >= 1")
    if not (np.isfinite(t).all() and np.isfinite(p).all()):
        raise ValueError("y_true or y_pred holds NaN or infinite values: expected finite numbers")
    cols_t, cols_p = t.reshape(len(t), -1), p.reshape(len(p), -1)
    rmse = np.sqrt(mean_squared_error(cols_t, cols_p, multioutput="raw_values"))
    mae = mean_absolute_error(cols_t, cols_p, multioutput="raw_values")
    r2 = (r2_score(cols_t, cols_p, multioutput="raw_values") if len(t) >= 2
          else np.full(cols_t.shape[1], np.nan))
    per_output = () if t.ndim == 1 else tuple(
        {"rmse": float(a), "mae": float(b), "r2": float(c)} for a, b, c in zip(rmse, mae, r2))
    return RegressionReport(y_true=t, y_pred=p, residuals=t - p, rmse=float(rmse.mean()), mae=float(mae.mean()),
                            r2=float(r2.mean()), per_output=per_output)


def _check_classes(y_true: np.ndarray, proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y, p = np.asarray(y_true), np.asarray(proba, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] < 2 or y.shape != (len(p),) or len(p) < 1:
        raise ValueError(f"y_true of shape {y.shape} and proba of shape {p.shape}: expected (n,) and (n, k) with "
                         "n >= 1, k >= 2")
    if not np.issubdtype(y.dtype, np.integer):
        if not (np.isfinite(y).all() and np.all(y == np.round(y))):
            raise ValueError(f"y_true of dtype {y.dtype} holds non-integer values: expected class indices")
        y = y.astype(np.int64)
    if y.min() < 0 or y.max() >= p.shape[1]:
        raise ValueError(f"y_true holds classes from {y.min()} to {y.max()}: expected 0 .. {p.shape[1] - 1} "
                         f"(proba has {p.shape[1]} columns)")
    sums = p.sum(axis=1)
    if not np.isfinite(p).all() or p.min() < 0 or np.abs(sums - 1).max() > SUM_TOLERANCE:
        raise ValueError(f"proba rows sum to {sums.min():.4g} .. {sums.max():.4g} (or hold negative or non-finite "
                         "values): expected probabilities; pass probabilities(logits)")
    return y, p


def _round(value: float) -> float | None:
    """JSON has no NaN: None instead."""
    return None if value is None or not math.isfinite(value) else round(float(value), DIGITS)
