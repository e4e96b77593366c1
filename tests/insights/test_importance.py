"""fANOVA importance: exact on hand-made trees, right on synthetic sweeps with a known answer."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipeline.insights.history import SweepHistory, TrialRow
from pipeline.insights.importance import (
    MISSING_UNIT,
    encode,
    fanova_importance,
    leaf_boxes,
    sweep_importance,
    tree_main_effects,
)
from pipeline.search.space import SearchSpace

GRAMMAR = {"optimizer.lr": "tag(log,interval(0.0001,0.1))", "model.hidden_dim": "int(interval(16,256))",
           "regularization.dropout": "interval(0.0,0.5)", "model.activation": "relu,tanh,gelu"}


def synthetic_sweep(dominant: str, n: int = 40, seed: int = 0) -> SweepHistory:
    """A random sweep whose objective is driven by ``dominant``, the other parameters adding a little."""
    space = SearchSpace.from_grammar(GRAMMAR)
    rng = np.random.default_rng(seed)
    points = space.decode(rng.random((n, space.dim)))
    effects = {"optimizer.lr": lambda v: -(math.log10(v) + 2.5) ** 2 / 2.25,          # peak at 3e-3
               "model.hidden_dim": lambda v: v / 256, "regularization.dropout": lambda v: -2 * v,
               "model.activation": lambda v: {"relu": 0.0, "tanh": -1.0, "gelu": 0.3}[v]}
    rows = []
    for k, p in enumerate(points):
        value = sum((1.0 if name == dominant else 0.05) * f(p[name]) for name, f in effects.items())
        rows.append(TrialRow(k, "complete", 0.9 + 0.05 * value + 0.001 * rng.standard_normal(), p))
    rows.append(TrialRow(n, "failed", None, points[0]))  # failed and pruned trials are not fitted
    rows.append(TrialRow(n + 1, "pruned", 5.0, points[1]))
    return SweepHistory("parent", "0", "random", "maximize", "val_accuracy", space, rows)


@pytest.mark.parametrize("dominant", ["optimizer.lr", "model.activation", "regularization.dropout", "model.hidden_dim"])
def test_the_dominant_parameter_ranks_first(dominant):
    imp = sweep_importance(synthetic_sweep(dominant))
    (first, share, _), *rest = imp.ranked()
    assert first == dominant and share > 0.6 and all(v < share / 3 for _, v, _ in rest)
    assert imp.n_trials == 40 and sum(imp.as_dict().values()) == pytest.approx(1.0)
    assert imp.method.startswith("fANOVA") and "random-forest" in imp.method


def test_additive_function_recovers_the_variance_shares():
    # y = 3 u0 + u1 on the uniform cube: Var = 9/12 + 1/12, so the true main-effect shares are 0.9 and 0.1
    X = np.random.default_rng(1).random((300, 3))
    imp = fanova_importance(X, 3 * X[:, 0] + X[:, 1], ["a", "b", "c"])
    assert imp.as_dict() == pytest.approx({"a": 0.9, "b": 0.1, "c": 0.0}, abs=0.05)
    assert imp.main_effects_share > 0.9


def test_pure_interaction_has_no_main_effect():
    X = np.random.default_rng(2).random((300, 2))
    imp = fanova_importance(X, ((X[:, 0] < 0.5) ^ (X[:, 1] < 0.5)).astype(float), ["a", "b"])
    assert imp.main_effects_share < 0.2


def test_exact_decomposition_of_boxes():
    halves = np.array([[0.0, 0.0], [0.5, 0.0]]), np.array([[0.5, 1.0], [1.0, 1.0]])
    effects, total = tree_main_effects(*halves, np.array([1.0, 0.0]))  # f = [x0 < 1/2]
    assert total == pytest.approx(0.25) and effects == pytest.approx([0.25, 0.0])
    lo = np.array([[0, 0], [0.5, 0], [0, 0.5], [0.5, 0.5]], dtype=float)
    effects, total = tree_main_effects(lo, lo + 0.5, np.array([0.0, 1.0, 1.0, 0.0]))  # XOR
    assert total == pytest.approx(0.25) and effects == pytest.approx([0.0, 0.0])


def test_leaf_boxes_partition_the_cube_and_match_predictions():
    from sklearn.tree import DecisionTreeRegressor

    rng = np.random.default_rng(3)
    X = rng.random((50, 3))
    tree = DecisionTreeRegressor(random_state=0).fit(X, X[:, 0] ** 2 + rng.random(50))
    lo, hi, values = leaf_boxes(tree, 3)
    assert (hi - lo).prod(1).sum() == pytest.approx(1.0)
    probe = rng.random((200, 3))
    inside = ((lo[None] <= probe[:, None]) & (probe[:, None] < hi[None])).all(2)  # (200, leaves)
    assert (inside.sum(1) == 1).all()
    assert values[inside.argmax(1)] == pytest.approx(tree.predict(probe))


def test_flat_objective_gives_zero_importance():
    imp = fanova_importance(np.random.default_rng(4).random((10, 2)), np.ones(10), ["a", "b"])
    assert imp.as_dict() == {"a": 0.0, "b": 0.0} and imp.main_effects_share == 0.0


def test_too_few_complete_trials_give_none():
    history = synthetic_sweep("optimizer.lr", n=2)
    assert sweep_importance(history) is None


def test_same_seed_same_importance():
    a, b = (sweep_importance(synthetic_sweep("model.activation")) for _ in range(2))
    assert a.as_dict() == b.as_dict()


def test_encode_puts_missing_or_foreign_values_mid_range():
    space = SearchSpace.from_grammar(GRAMMAR)
    X = encode(space, [{"optimizer.lr": 0.1, "model.activation": "swish"}])
    assert X[0, 0] == 1.0 and (X[0, 1:] == MISSING_UNIT).all()


@pytest.mark.parametrize("X, y", [(np.zeros((3, 2)), np.zeros(4)), (np.full((3, 2), 2.0), np.zeros(3)),
                                  (np.zeros((3, 2)), np.array([0.0, np.nan, 1.0]))])
def test_bad_inputs_are_refused(X, y):
    with pytest.raises(ValueError):
        fanova_importance(X, y, ["a", "b"])
