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


# -- conditional (hierarchical) problems of bench/conditional.py ----------------------------------------------
H6_MIN = -3.32236801141551  # Hartmann6's minimum (bench/problems.py)
BRANIN_MIN = 0.397887357729738



def jenatton(p: dict[str, Any]) -> float:
    """Ax's ``jenatton_test_function``: ``x_leaf**2 + offset + r`` on the leaf that x1, x2/x3 choose."""
    if p["x1"] == 0:
        return p["x4"] ** 2 + 0.1 + p["r8"] if p["x2"] == 0 else p["x5"] ** 2 + 0.2 + p["r8"]
    return p["x6"] ** 2 + 0.3 + p["r9"] if p["x3"] == 0 else p["x7"] ** 2 + 0.4 + p["r9"]


def _jenatton_space() -> SearchSpace:
    """Ax's ``get_jenatton_search_space``: x1 picks (x2, r8) or (x3, r9); x2 picks x4 or x5, x3 x6 or x7."""
    grammar = {"x1": "choice(0,1)", "x2": "choice(0,1)", "x3": "choice(0,1)",
               **{f"x{i}": "interval(0.0,1.0)" for i in range(4, 8)}, "r8": "interval(0.0,1.0)",
               "r9": "interval(0.0,1.0)"}
    conditions = {"x2": "x1=0", "r8": "x1=0", "x3": "x1=1", "r9": "x1=1",
                  "x4": "x2=0", "x5": "x2=1", "x6": "x3=0", "x7": "x3=1"}
    return SearchSpace.from_grammar(grammar, conditions)


BRANCH_OFFSET = {"a": 0.2, "b": 0.1, "c": 0.0}  # each branch's best value: only c, the largest, reaches 0
# Each branch's part divided by its median at uniform random points of the branch (2e5 draws, rounded), so no
# branch looks better than another at random: only search tells them apart.
BRANCH_SCALE = {"a": 35.0, "b": 8.9, "c": 3.22}
B_CENTRE = (0.7, -1.2, 1.4)  # branch b's best continuous point; its best int k is 6
LR_BEST = -4.0  # best log10(lr), in the shared range [-5, -1] (middle -3)


def branches(p: dict[str, Any]) -> float:
    """Branch a: Branin (2 floats); b: a shifted sphere in 3 floats plus ``0.2 (k - 6)^2`` in an int k in 1..8
    (4 params); c: Hartmann6 (6 floats). Each branch's regret over its own minimum is divided by its random median
    (``BRANCH_SCALE``) and added to its offset (0.2, 0.1, 0): the lower-dimensional branches are the easier
    decoys. Plus ``0.05 (log10 lr + 4)^2`` in every branch. The optimum is 0 exactly: family c at Hartmann6's
    minimiser, lr = 1e-4."""
    family = p["family"]
    if family == "a":
        part = branin({"x0": p["a0"], "x1": p["a1"]}) - BRANIN_MIN
    elif family == "b":
        part = sum((p[f"b{i}"] - c) ** 2 for i, c in enumerate(B_CENTRE)) + 0.2 * (p["k"] - 6) ** 2
    else:
        part = _hartmann(np.array([p[f"c{i}"] for i in range(6)]), _H6_A, _H6_P) - H6_MIN
    return BRANCH_OFFSET[family] + part / BRANCH_SCALE[family] + 0.05 * (math.log10(p["lr"]) - LR_BEST) ** 2


def _branches_space() -> SearchSpace:
    grammar = {"family": "choice(a,b,c)", "lr": "tag(log, interval(1e-5, 1e-1))",
               "a0": "interval(-5.0, 10.0)", "a1": "interval(0.0, 15.0)",
               **{f"b{i}": "interval(-2.0, 2.0)" for i in range(3)}, "k": "range(1,9)",
               **{f"c{i}": "interval(0.0, 1.0)" for i in range(6)}}
    conditions = {**{n: "family=a" for n in ("a0", "a1")}, **{n: "family=b" for n in ("b0", "b1", "b2", "k")},
                  **{f"c{i}": "family=c" for i in range(6)}}
    return SearchSpace.from_grammar(grammar, conditions)


WIDTH_BEST = (8.0, 7.0, 6.0, 5.0)  # best log2 width of layers 1..4


def depth_net(p: dict[str, Any]) -> float:
    """A synthetic network: ``depth`` in 1..4 layers, layer k's width (log int, 8..512) active when
    ``depth >= k``, a log learning rate and an activation. Best at depth 3, widths 256, 128, 64, lr 10^-2.9, relu:
    0 exactly. The best log10 lr is ``-2 - 0.3 depth``; more than 0.8 above it the run "diverges" and the loss
    grows exponentially (to ~1300 at depth 4, lr 1; a random point's median is ~1): a heavy-tailed landscape, as
    real learning-rate sweeps are."""
    depth = p["depth"]
    u = math.log10(p["lr"]) - (-2.0 - 0.3 * depth)
    loss = 0.05 * (depth - 3) ** 2 + 0.1 * u**2 + (0.05 if p["act"] == "tanh" else 0.0)
    loss += sum(0.03 * (math.log2(p[f"w{k}"]) - WIDTH_BEST[k - 1]) ** 2 for k in range(1, depth + 1))
    return loss + (math.exp(3 * (u - 0.8)) - 1 if u > 0.8 else 0.0)


def _depth_space() -> SearchSpace:
    grammar = {"depth": "range(1,5)", "lr": "tag(log, interval(1e-4, 1.0))", "act": "choice(relu,tanh)",
               **{f"w{k}": "tag(log, int(interval(8, 512)))" for k in range(1, 5)}}
    return SearchSpace.from_grammar(grammar, {f"w{k}": f"depth>={k}" for k in range(2, 5)})


CONDITIONAL_PROBLEMS: dict[str, Problem] = {  # bench/conditional.py
    "jenatton": Problem("jenatton", _jenatton_space(), jenatton, 0.1),
    "branches": Problem("branches", _branches_space(), branches, 0.0),
    "depth": Problem("depth", _depth_space(), depth_net, 0.0),
}


# -- multi-objective problems of bench/multiobjective.py ------------------------------------------------------
C2DTLZ2_RADIUS = 0.2  # BoTorch's ``C2DTLZ2._r``


@dataclass(frozen=True)
class MOProblem:
    """Several objectives, all minimized: ``objective`` maps a parameter dict to its losses ``(m,)``,
    ``constraints`` (None: unconstrained) to its constraint values ``(k,)``, each met when <= 0. The hypervolume
    is taken against the fixed reference point ``ref``; ``max_hv`` is the true front's (exact, or the published
    approximation where ``source`` says so)."""

    name: str
    space: SearchSpace
    objective: Callable[[dict[str, Any]], np.ndarray]
    ref: tuple[float, ...]
    max_hv: float
    source: str
    constraints: Callable[[dict[str, Any]], np.ndarray] | None = None

    @property
    def n_objectives(self) -> int:
        return len(self.ref)


def zdt(x: np.ndarray, shape: str) -> np.ndarray:
    """ZDT1 (``shape="convex"``: ``f2 = g (1 - sqrt(f1 / g))``) or ZDT2 (``"concave"``: ``g (1 - (f1 / g)^2)``),
    Zitzler, Deb & Thiele 2000, "Comparison of multiobjective evolutionary algorithms: empirical results", with
    ``f1 = x_0`` and ``g = 1 + 9 mean(x_1..x_{d-1})`` on ``[0, 1]^d`` (BoTorch's ``ZDT1``/``ZDT2``). The front is
    ``g = 1``: ``f2 = 1 - sqrt(f1)`` or ``1 - f1^2``."""
    f1 = float(x[0])
    g = 1.0 + 9.0 * float(np.mean(x[1:]))
    f2 = g * (1.0 - math.sqrt(f1 / g)) if shape == "convex" else g * (1.0 - (f1 / g) ** 2)
    return np.array([f1, f2])


def dtlz2(x: np.ndarray, m: int) -> np.ndarray:
    """DTLZ2 with ``m`` objectives, Deb, Thiele, Laumanns & Zitzler 2005, "Scalable test problems for evolutionary
    multiobjective optimization", as BoTorch's ``DTLZ2``: ``g = sum((x_i - 0.5)^2)`` over the last
    ``k = d - m + 1`` inputs, ``f_0 = (1 + g) prod_{i < m-1} cos(x_i pi/2)``, ``f_j = (1 + g) prod_{i < m-1-j}
    cos(x_i pi/2) sin(x_{m-1-j} pi/2)``. The front is the positive unit sphere (``g = 0``)."""
    k = len(x) - m + 1
    g1 = 1.0 + float(np.sum((x[-k:] - 0.5) ** 2))
    c, s = np.cos(x * math.pi / 2), np.sin(x * math.pi / 2)
    return np.array([g1 * float(np.prod(c[:m - 1 - j])) * (s[m - 1 - j] if j > 0 else 1.0) for j in range(m)])


def dtlz2_max_hv(m: int, ref: float = 1.1) -> float:
    """The true DTLZ2 front's hypervolume: the cube ``ref^m`` less the positive part of the unit ball."""
    return ref**m - math.pi ** (m / 2) / math.gamma(m / 2 + 1) / 2**m


def currin(x0: float, x1: float) -> float:
    """Currin's exponential function on ``[0, 1]^2`` (Currin et al. 1991), as BoTorch's ``BraninCurrin._currin``;
    at ``x1 = 0`` the factor ``1 - exp(-1 / (2 x1))`` is its limit, 1."""
    factor = 1.0 - math.exp(-1.0 / (2.0 * x1)) if x1 > 0 else 1.0
    return factor * (2300 * x0**3 + 1900 * x0**2 + 2092 * x0 + 60) / (100 * x0**3 + 500 * x0**2 + 4 * x0 + 20)


def branin_currin(p: dict[str, Any]) -> np.ndarray:
    """BoTorch's ``BraninCurrin`` (``negate=False``: both minimized): Branin on ``(15 x0 - 5, 15 x1)`` and Currin,
    over ``[0, 1]^2``."""
    return np.array([branin({"x0": 15 * p["x0"] - 5, "x1": 15 * p["x1"]}), currin(p["x0"], p["x1"])])


def c2dtlz2_constraint(x: np.ndarray, m: int = 2, r: float = C2DTLZ2_RADIUS) -> np.ndarray:
    """C2-DTLZ2's constraint (Jain & Deb 2014, "An evolutionary many-objective optimization algorithm using
    reference-point based nondominated sorting approach, part II", IEEE TEC 18(4)), met when <= 0, exactly as
    BoTorch's ``C2DTLZ2.evaluate_slack_true`` negated: ``min(min_i [(f_i - 1)^2 + sum_{j != i} (f_j^2 - r^2)],
    sum_i [(f_i - 1/sqrt(m))^2 - r^2])``, ``r = 0.2``. (BoTorch subtracts ``r^2`` once per term of both sums, the
    paper once per expression; the two agree in the first sum for 2 objectives.) Feasible: the front's middle and
    ends, within about ``r`` of the sphere's axis points and of its centre ray."""
    f = dtlz2(x, m)
    near_axis = min((f[i] - 1) ** 2 + float(np.sum(np.delete(f, i) ** 2 - r**2)) for i in range(m))
    near_centre = float(np.sum((f - 1 / math.sqrt(m)) ** 2 - r**2))
    return np.array([min(near_axis, near_centre)])


MO_PROBLEMS: dict[str, MOProblem] = {  # bench/multiobjective.py
    "zdt1": MOProblem("zdt1", _box(6, 0, 1), lambda p: zdt(_vec(p, 6), "convex"), (11.0, 11.0), 120 + 2 / 3,
                      "ZDT1, d = 6; ref and max HV as BoTorch's ZDT1 (exact)"),
    "zdt2": MOProblem("zdt2", _box(6, 0, 1), lambda p: zdt(_vec(p, 6), "concave"), (11.0, 11.0), 120 + 1 / 3,
                      "ZDT2, d = 6; ref and max HV as BoTorch's ZDT2 (exact)"),
    "dtlz2": MOProblem("dtlz2", _box(6, 0, 1), lambda p: dtlz2(_vec(p, 6), 3), (1.1, 1.1, 1.1), dtlz2_max_hv(3),
                       "DTLZ2, 3 objectives, d = 6; ref and max HV as BoTorch's DTLZ2 (exact)"),
    "branin_currin": MOProblem("branin_currin", _box(2, 0, 1), branin_currin, (18.0, 6.0), 59.36011874867746,
                               "BoTorch's BraninCurrin, d = 2; ref and max HV (NSGA-II's approximation) BoTorch's"),
    "c2dtlz2": MOProblem("c2dtlz2", _box(4, 0, 1), lambda p: dtlz2(_vec(p, 4), 2), (1.1, 1.1), 0.3996406303723544,
                         "C2-DTLZ2, 2 objectives, d = 4 (BoTorch's constrained tutorial); ref and max HV "
                         "(NSGA-II's approximation) BoTorch's", lambda p: c2dtlz2_constraint(_vec(p, 4))),
}
