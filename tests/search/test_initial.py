"""The initial design: its size, and fresh points from one Sobol sequence per seed that skip what is taken."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.stats import qmc

from pipeline.search import initial
from pipeline.search.columns import EXHAUSTIVE_MAX, Columns
from pipeline.search.initial import default_n_initial, fresh_points, novel, unique_count
from pipeline.search.space import CategoricalParam, FloatParam, IntParam, SearchSpace

OPT = CategoricalParam("opt", ("sgd", "adam", "rmsprop"))
STEPPED = FloatParam("p", 0.0, 1.0, step=0.25)
MIXED = SearchSpace((FloatParam("lr", 1e-4, 1e-1, log=True), IntParam("h", 16, 512, log=True), OPT, STEPPED))
# Columns whose cells are equal (or continuous): the nearest level is the cell a coordinate falls in.
EVEN = SearchSpace((FloatParam("x", -1.0, 1.0), IntParam("n", 1, 6), OPT, STEPPED))
SMALL = SearchSpace((IntParam("k", 1, 3), CategoricalParam("c", ("a", "b"))))  # 6 points


def fresh(space, n, seed=0, exclude=None, rng=0):
    exclude = np.zeros((0, space.dim)) if exclude is None else exclude
    return fresh_points(space, Columns.from_space(space), seed, exclude, n, np.random.default_rng(rng))


def distinct_in_order(X):
    """The rows of ``X`` (snapped encodings) at their first occurrence, in order."""
    first = {}
    for row in X:
        first.setdefault(tuple(np.round(row, 9)), row)
    return np.array(list(first.values()))


def as_tuples(space, X):
    return [tuple(d[n] for n in space.names) for d in space.decode(X)]


@pytest.mark.parametrize(("dim", "cardinality", "expected"), [
    (0, math.inf, 5), (1, math.inf, 5), (2, math.inf, 6), (4, math.inf, 10), (9, math.inf, 20),
    (10, math.inf, 20), (50, math.inf, 20),                   # 2 * (d + 1), clipped to [5, 20]
    (3, 4, 4), (3, 8.0, 8), (3, 100, 8), (9, 7, 7), (1, 2, 2),  # never more than the space holds
])
def test_default_n_initial(dim, cardinality, expected):
    n = default_n_initial(dim, cardinality)
    assert n == expected and type(n) is int


def test_novel_needs_every_column_to_match():
    X = np.array([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6], [0.7, 0.8]])
    ref = np.array([[0.3, 0.4 + 5e-10], [0.5, 0.7], [0.7 + 1e-6, 0.8]])
    assert novel(X, ref).tolist() == [True, False, True, True]
    assert novel(X, np.zeros((0, 2))).tolist() == [True] * 4
    assert novel(np.zeros((0, 2)), ref).shape == (0,)
    assert not novel(X, X).any()


def test_unique_count():
    assert unique_count(np.array([[0.1, 0.2], [0.1, 0.2 + 1e-12], [0.2, 0.1], [0.1, 0.1], [0.1, 0.1]])) == 3
    assert unique_count(np.zeros((0, 3))) == 0
    assert unique_count(np.array([[0.5, 0.5, 0.5]])) == 1


@pytest.mark.parametrize("space", [MIXED, EVEN], ids=["mixed", "even"])
def test_fresh_points_are_distinct_and_representable(space):
    X = fresh(space, 15)
    assert X.shape == (15, space.dim)
    assert unique_count(X) == 15
    assert ((X >= 0) & (X <= 1)).all()
    assert np.array_equal(space.snap(X), X)  # encodings of the values they decode to
    assert np.array_equal(Columns.from_space(space).snap(X), X)


def test_fresh_points_follow_the_seeds_sobol_sequence():
    raw = qmc.Sobol(EVEN.dim, scramble=True, seed=7).random(64)
    expected = distinct_in_order(EVEN.snap(raw))[:12]
    assert fresh(EVEN, 12, seed=7) == pytest.approx(expected, abs=1e-9)


def test_a_short_first_scan_goes_on_along_the_same_sequence():
    # log-scale cells shrink as k grows: the first scan (512 points for 150) lands on fewer than 150 values,
    # so the design reads further along the same sequence (each coordinate snapped to its nearest level)
    space = SearchSpace((IntParam("k", 1, 200, log=True),))
    raw = qmc.Sobol(1, scramble=True, seed=5).random(2048)
    order = distinct_in_order(space.snap(Columns.from_space(space).snap(raw)))
    assert unique_count(space.snap(Columns.from_space(space).snap(raw[:512]))) < 150 <= len(order)
    assert np.array_equal(fresh(space, 150, seed=5), order[:150])


def test_same_seed_same_points_other_seed_other_points():
    a = fresh(MIXED, 10, seed=3, rng=0)
    assert np.array_equal(a, fresh(MIXED, 10, seed=3, rng=1))  # the generator only serves the fallback
    assert not np.array_equal(a, fresh(MIXED, 10, seed=4))


def test_fresh_points_avoid_exclude():
    rng = np.random.default_rng(5)
    cols = Columns.from_space(MIXED)
    first = fresh(MIXED, 6, seed=1)
    others = MIXED.snap(cols.snap(rng.random((20, MIXED.dim))))
    exclude = np.vstack([first[::2], others])
    X = fresh(MIXED, 10, seed=1, exclude=exclude)
    assert len(X) == 10 and unique_count(X) == 10
    assert novel(X, exclude).all()
    assert novel(first[1::2], X).sum() == 0  # the points not excluded are still proposed


def test_a_resumed_design_continues_the_same_sequence():
    whole = fresh(MIXED, 20, seed=2)
    taken = np.zeros((0, MIXED.dim))
    for n in (5, 4, 1, 7, 3):  # asked in batches, each excluding what came before
        taken = np.vstack([taken, fresh(MIXED, n, seed=2, exclude=taken)])
    assert np.array_equal(taken, whole)
    # excluding points of another design skips them but keeps the order of the rest
    skip = whole[[1, 4]]
    rest = fresh(MIXED, 18, seed=2, exclude=skip)
    assert np.array_equal(rest, np.delete(whole, [1, 4], axis=0))


def test_small_space_is_exhausted_through_the_leftovers(monkeypatch):
    monkeypatch.setattr(initial, "SOBOL_MAX_POINTS", 16)  # 2 * n > 16: no Sobol scan, only the enumeration
    every = set(itertools.product([1, 2, 3], ["a", "b"]))
    X = fresh(SMALL, 10)
    assert len(X) == 6 and set(as_tuples(SMALL, X)) == every
    taken = X[:4]
    rest = fresh(SMALL, 5, exclude=taken)
    assert len(rest) == 2 and set(as_tuples(SMALL, rest)) == every - set(as_tuples(SMALL, taken))
    assert fresh(SMALL, 3, exclude=X).shape == (0, 2)  # nothing left


def test_leftovers_extend_a_short_sobol_prefix(monkeypatch):
    space = SearchSpace((IntParam("k", 1, 200, log=True),))  # cells shrink as k grows: short scans miss some
    every = list(range(1, 201))
    deep = fresh(space, 200)
    assert sorted(k for (k,) in as_tuples(space, deep)) == every
    monkeypatch.setattr(initial, "SOBOL_MAX_POINTS", 512)  # one scan of 512 points, then the fallback
    short, other_rng = fresh(space, 200, rng=0), fresh(space, 200, rng=1)
    assert sorted(k for (k,) in as_tuples(space, short)) == every
    same = int(np.argmin(np.all(short == deep, axis=1)))  # leading rows both took from the Sobol scan
    assert 100 < same < 200
    assert np.array_equal(other_rng[:same], short[:same])  # the generator orders the leftovers only
    assert not np.array_equal(other_rng[same:], short[same:])
    assert np.array_equal(space.snap(short), short)


def test_huge_finite_space_falls_back_to_seeded_draws(monkeypatch):
    monkeypatch.setattr(initial, "SOBOL_MAX_POINTS", 16)  # 2 * (n + taken) > 16: no Sobol scan at all
    space = SearchSpace((IntParam("k", 1, 10_000),))
    assert Columns.from_space(space).cardinality() > EXHAUSTIVE_MAX
    exclude = space.encode([{"k": k} for k in range(1, 10_001, 2)])  # every odd k
    X = fresh(space, 20, exclude=exclude, rng=3)
    ks = [d["k"] for d in space.decode(X)]
    assert len(ks) == 20 and len(set(ks)) == 20 and all(k % 2 == 0 for k in ks)
    assert np.array_equal(X, fresh(space, 20, exclude=exclude, rng=3))
    assert not np.array_equal(X, fresh(space, 20, exclude=exclude, rng=4))

