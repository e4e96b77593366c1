from __future__ import annotations

import numpy as np
import torch

from pipeline.search.acq_optimizer import candidates, local_search, select_starts
from pipeline.search.columns import Columns, enumerate_points
from pipeline.search.space import CategoricalParam, FloatParam, IntParam, SearchSpace

SPACE = SearchSpace((FloatParam("x", 0.0, 1.0), IntParam("n", 1, 100, log=True),
                     CategoricalParam("c", ("a", "b", "c")), IntParam("k", 0, 4)))


def _is_level(cols, X):
    return all(np.isclose(X[:, j][:, None], lv[None]).any(1).all() for j, lv in enumerate(cols.levels)
               if lv is not None)


def test_levels_match_space_encoding():
    cols = Columns.from_space(SPACE)
    assert cols.levels[0] is None
    assert np.allclose(cols.levels[1], SPACE.encode([{"x": 0, "n": v, "c": "a", "k": 0} for v in range(1, 101)])[:, 1])
    assert np.allclose(cols.levels[2], [1 / 6, 0.5, 5 / 6])
    assert cols.cardinality() == np.inf


def test_candidates_sit_on_values():
    cols = Columns.from_space(SPACE)
    X = candidates(cols, np.random.default_rng(0), 256)
    assert X.shape[0] == 256 and _is_level(cols, X) and (X >= 0).all() and (X <= 1).all()


def test_local_search_finds_the_mixed_optimum():
    cols = Columns.from_space(SPACE)
    target = torch.tensor([0.37, float(cols.levels[1][60]), 5 / 6, 0.5], dtype=torch.float64)

    def acq(x):  # peak at x=0.37, n=61, c="c", k=2; categorical bonus only at exactly "c"
        cont = -((x[:, [0, 1, 3]] - target[[0, 1, 3]]) ** 2).sum(-1)
        return cont + (x[:, 2] - target[2]).abs().lt(1e-9).to(x.dtype)

    starts = np.array([[0.9, 0.1, 1 / 6, 0.1], [0.1, 0.9, 0.5, 0.9]])
    X, v = local_search(acq, starts, cols, np.random.default_rng(0))
    best = X[np.argmax(v)]
    assert _is_level(cols, X)
    assert np.allclose(best, target.numpy(), atol=1e-4)


def test_enumerate_points_of_a_finite_space():
    space = SearchSpace((CategoricalParam("c", (1, 2, 3)), IntParam("k", 0, 1)))
    pts = enumerate_points(Columns.from_space(space))
    assert pts.shape == (6, 2) and len({tuple(p) for p in pts}) == 6
    assert np.allclose(space.snap(pts), pts)


def test_continuous_starts_are_refined_independently():
    # Two basins of very different height: a shared run on the summed acquisition may trade the low
    # basin's start away; independent runs must bring each start to its own local maximum.
    cols = Columns.from_space(SearchSpace((FloatParam("a", 0.0, 1.0), FloatParam("b", 0.0, 1.0))))
    peaks = torch.tensor([[0.2, 0.2], [0.8, 0.8]], dtype=torch.float64)

    def acq(x):
        d2 = ((x[:, None, :] - peaks) ** 2).sum(-1)
        return torch.log(100.0 * torch.exp(-d2[:, 0] / 0.02) + torch.exp(-d2[:, 1] / 0.02) + 1e-30)

    starts = np.array([[0.3, 0.25], [0.7, 0.75]])
    X, v = local_search(acq, starts, cols, np.random.default_rng(0), scale=np.array([0.5, 2.0]))
    assert np.allclose(X, peaks.numpy(), atol=1e-3)
    assert v[0] > v[1]


def test_starts_are_drawn_in_proportion_to_ei():
    # log-EI values: one candidate far ahead of the rest, two near it, many hopeless ones
    vals = np.concatenate([[0.0, -0.1, -0.2], np.full(1000, -40.0)])
    idx = select_starts(vals, 8, np.random.default_rng(0))
    assert idx[0] == 0 and set(idx[:3]) == {0, 1, 2} and len(set(idx)) == len(idx) <= 8
    assert (select_starts(np.array([1.0, np.nan, 0.5]), 8, np.random.default_rng(0)) == [0, 2]).all()


def test_scores_are_the_same_whatever_the_chunks():
    from pipeline.search.acq_optimizer import EVAL_ELEMENTS, acq_values

    cols = Columns.from_space(SPACE)
    X = candidates(cols, np.random.default_rng(0), 300)
    calls = []

    def acq(x: torch.Tensor) -> torch.Tensor:
        calls.append(len(x))
        return -((x - 0.3) ** 2).sum(-1)

    whole = acq_values(acq, X)  # no GP size given: one chunk
    chunked = acq_values(acq, X, n_obs=EVAL_ELEMENTS // 64)  # a large GP: 64 candidates per call
    assert calls == [300, 64, 64, 64, 64, 44] and np.allclose(whole, chunked)
