"""Columns: discrete columns as their level encodings, continuous ones as intervals; snap, enumerate."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from pipeline.search.columns import MAX_LEVELS, Columns, enumerate_points, nearest
from pipeline.search.space import CategoricalParam, FloatParam, IntParam, SearchSpace

INT = IntParam("n", 1, 4)
INT_LOG = IntParam("h", 16, 64, log=True)
STEPPED = FloatParam("p", 0.0, 1.0, step=0.25)
CAT = CategoricalParam("opt", ("sgd", "adam", "rmsprop"))
LR = FloatParam("lr", 1e-4, 1e-1, log=True)
SPACE = SearchSpace((INT, INT_LOG, STEPPED, CAT, LR))
COLS = Columns.from_space(SPACE)


def test_levels_per_kind_of_column():
    n, h, p, opt, lr = COLS.levels
    assert n == pytest.approx([0.125, 0.375, 0.625, 0.875])  # [0.5, 4.5] onto [0, 1]
    assert p == pytest.approx([0.1, 0.3, 0.5, 0.7, 0.9])  # five equal cells, their centres
    assert opt == pytest.approx([1 / 6, 0.5, 5 / 6])
    assert lr is None
    lo, hi = math.log(15.5), math.log(64.5)
    assert h == pytest.approx([(math.log(k) - lo) / (hi - lo) for k in range(16, 65)])
    assert np.all(np.diff(h) > 0) and np.all(np.diff(np.diff(h)) < 0)  # sorted, closer together as k grows
    assert COLS.dim == 5
    assert COLS.cont.tolist() == [False, False, False, False, True]
    assert COLS.is_cat.tolist() == [False, False, False, True, False]


@pytest.mark.parametrize("p", [INT, INT_LOG, STEPPED, CAT, IntParam("s", 0, 10, step=5),
                               IntParam("l", 1, 1000, log=True), CategoricalParam("one", ("only",))],
                         ids=lambda p: p.name)
def test_levels_are_the_encodings_of_every_value(p):
    space = SearchSpace((p,))
    (levels,) = Columns.from_space(space).levels
    expected = np.sort(space.encode([{p.name: v} for v in p.values()])[:, 0])
    assert levels == pytest.approx(expected, abs=1e-12)
    # and every level decodes to a distinct value
    assert len({repr(d[p.name]) for d in space.decode(levels[:, None])}) == len(levels)


def test_integers_with_too_many_values_are_continuous():
    cols = Columns.from_space(SearchSpace((IntParam("a", 1, MAX_LEVELS), IntParam("b", 0, MAX_LEVELS))))
    assert len(cols.levels[0]) == MAX_LEVELS
    assert cols.levels[1] is None
    assert cols.cont.tolist() == [False, True]
    assert cols.cardinality() == math.inf


def test_cardinality():
    assert COLS.cardinality() == math.inf
    finite = SearchSpace((INT, INT_LOG, STEPPED, CAT))
    assert Columns.from_space(finite).cardinality() == 4 * 49 * 5 * 3 == finite.cardinality()


def test_snap_moves_discrete_coordinates_to_the_nearest_level():
    X = np.random.default_rng(0).random((200, SPACE.dim))
    X[:3] = [[-0.2] * 5, [1.3] * 5, [0.5] * 5]  # outside the cube, and on a level
    before = X.copy()
    S = COLS.snap(X)
    assert np.array_equal(X, before)  # the input is left alone
    for j, lv in enumerate(COLS.levels):
        if lv is None:
            assert np.array_equal(S[:, j], X[:, j])
            continue
        brute = lv[np.argmin(np.abs(X[:, j, None] - lv[None, :]), axis=1)]
        assert np.array_equal(S[:, j], brute)
        assert S[0, j] == lv[0] and S[1, j] == lv[-1]
    assert S[2, 3] == 0.5 and S[2, 2] == 0.5  # already on a level: unchanged
    assert np.array_equal(COLS.snap(S), S)


def test_enumerate_points_lists_every_point_once():
    params = (INT, STEPPED, CAT)
    space = SearchSpace(params)
    cols = Columns.from_space(space)
    X = enumerate_points(cols)
    assert X.shape == (4 * 5 * 3, 3)
    assert len(np.unique(X, axis=0)) == len(X)
    decoded = {tuple(d[p.name] for p in params) for d in space.decode(X)}
    assert decoded == set(itertools.product(*(p.values() for p in params)))


def test_enumerate_points_of_one_column():
    X = enumerate_points(Columns.from_space(SearchSpace((CAT,))))
    assert X.shape == (3, 1)
    assert X[:, 0] == pytest.approx([1 / 6, 0.5, 5 / 6])


def test_nearest():
    levels = np.array([0.1, 0.4, 0.5, 0.9])
    u = np.array([-1.0, 0.1, 0.24, 0.26, 0.44, 0.46, 0.8, 0.9, 2.0])
    assert nearest(levels, u).tolist() == [0, 0, 0, 1, 1, 2, 3, 3, 3]
    levels = np.sort(np.random.default_rng(1).random(37))
    u = np.random.default_rng(2).uniform(-0.1, 1.1, 500)
    assert np.array_equal(nearest(levels, u), np.argmin(np.abs(u[:, None] - levels[None, :]), axis=1))


def test_snap_a_column_with_one_level():
    cols = Columns.from_space(SearchSpace((CategoricalParam("one", ("only",)), INT)))
    assert cols.snap(np.array([[0.0, 0.0], [0.97, 1.0]])).tolist() == [[0.5, 0.125], [0.5, 0.875]]
