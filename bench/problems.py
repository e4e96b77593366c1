"""Benchmark problems for ``bo_benchmark.py``: classic test functions and one real tuning problem.

Each problem is a ``SearchSpace``, an objective on parameter dicts (to minimize) and the known
optimum (``None`` when unknown: the report then uses the best value found by any run).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.search.space import CategoricalParam, FloatParam, IntParam, SearchSpace


@dataclass(frozen=True)
class Problem:
    name: str
    space: SearchSpace
    objective: Callable[[dict[str, Any]], float]
    optimum: float | None


def _vec(p: dict[str, Any], d: int) -> np.ndarray:
    return np.array([p[f"x{i}"] for i in range(d)], dtype=np.float64)


def _box(d: int, low: float, high: float) -> SearchSpace:
    return SearchSpace(tuple(FloatParam(f"x{i}", low, high) for i in range(d)))


def branin(p: dict[str, Any]) -> float:
    x1, x2 = p["x0"], p["x1"]
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


_H3_A = np.array([[3.0, 10, 30], [0.1, 10, 35], [3.0, 10, 30], [0.1, 10, 35]])
_H3_P = 1e-4 * np.array([[3689, 1170, 2673], [4699, 4387, 7470], [1091, 8732, 5547], [381, 5743, 8828]])
_H6_A = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8],
                  [17, 8, 0.05, 10, 0.1, 14]])
_H6_P = 1e-4 * np.array([[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
                         [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]])
_H_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def _hartmann(x: np.ndarray, A: np.ndarray, P: np.ndarray) -> float:
    return float(-_H_ALPHA @ np.exp(-(A * (x - P) ** 2).sum(1)))


def rosenbrock(x: np.ndarray) -> float:
    return float(np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2))


def styblinski_tang(x: np.ndarray) -> float:
    return float(0.5 * np.sum(x**4 - 16 * x**2 + 5 * x))


def _hgb_space() -> SearchSpace:
    return SearchSpace((
        FloatParam("learning_rate", 1e-2, 1.0, log=True),
        IntParam("max_iter", 5, 50, log=True),  # kept small: ~0.2 s per evaluation, 3500 of them per benchmark
        IntParam("max_leaf_nodes", 2, 32, log=True),
        IntParam("min_samples_leaf", 2, 64, log=True),
        FloatParam("l2_regularization", 1e-4, 10.0, log=True),
    ))


_HGB_DATA: dict[str, Any] = {}


def hgb_cv_logloss(p: dict[str, Any]) -> float:
    """3-fold CV log-loss of a histogram gradient-boosting classifier on breast cancer."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    if not _HGB_DATA:
        _HGB_DATA["Xy"] = load_breast_cancer(return_X_y=True)
    X, y = _HGB_DATA["Xy"]
    model = HistGradientBoostingClassifier(early_stopping=False, random_state=0, **p)
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    return float(-cross_val_score(model, X, y, cv=cv, scoring="neg_log_loss").mean())


_MIXED_SPACE = SearchSpace((
    FloatParam("lr", 1e-4, 1.0, log=True),
    IntParam("width", 8, 512, log=True),
    IntParam("depth", 1, 8),
    FloatParam("dropout", 0.0, 0.8),
    FloatParam("momentum", 0.0, 1.0),
    CategoricalParam("optimizer", ("sgd", "adam", "rmsprop")),
    CategoricalParam("activation", ("relu", "tanh", "gelu", "silu")),
))
_MIXED_OFFSET = {"sgd": 0.3, "adam": 0.0, "rmsprop": 0.15, "relu": 0.05, "tanh": 0.25, "gelu": 0.0, "silu": 0.02}
_MIXED_LR = {"sgd": -1.5, "adam": -3.0, "rmsprop": -2.7}  # best log10 learning rate per optimizer


def mixed7(p: dict[str, Any]) -> float:
    """A synthetic 7-D tuning landscape (log float, log int, int, floats, two categoricals): the best
    learning rate depends on the optimizer, width and depth interact, momentum matters only for sgd."""
    lr = math.log10(p["lr"]) - _MIXED_LR[p["optimizer"]]
    size = math.log2(p["width"]) - 6.0 + 0.4 * (p["depth"] - 4)
    mom = (p["momentum"] - 0.9) ** 2 * (2.0 if p["optimizer"] == "sgd" else 0.1)
    drop = (p["dropout"] - 0.2 - 0.03 * (p["depth"] - 1)) ** 2
    return (0.15 * lr**2 + 0.04 * size**2 + 0.02 * (p["depth"] - 5) ** 2 + mom + drop
            + _MIXED_OFFSET[p["optimizer"]] + _MIXED_OFFSET[p["activation"]])


PROBLEMS: dict[str, Problem] = {
    "branin": Problem("branin", SearchSpace((FloatParam("x0", -5, 10), FloatParam("x1", 0, 15))), branin,
                      0.397887357729738),
    "hartmann3": Problem("hartmann3", _box(3, 0, 1), lambda p: _hartmann(_vec(p, 3), _H3_A, _H3_P),
                         -3.86278214782076),
    "hartmann6": Problem("hartmann6", _box(6, 0, 1), lambda p: _hartmann(_vec(p, 6), _H6_A, _H6_P),
                         -3.32236801141551),
    "rosenbrock4": Problem("rosenbrock4", _box(4, -5, 10), lambda p: rosenbrock(_vec(p, 4)), 0.0),
    "styblinski_tang5": Problem("styblinski_tang5", _box(5, -5, 5), lambda p: styblinski_tang(_vec(p, 5)),
                                -39.16616570377142 * 5),
    "mixed7": Problem("mixed7", _MIXED_SPACE, mixed7, None),
    "hgb_breast_cancer": Problem("hgb_breast_cancer", _hgb_space(), hgb_cv_logloss, None),
}
