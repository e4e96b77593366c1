"""Fronts, NSGA-II's order, hypervolume and the non-dominated boxes, checked against brute force."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.search.pareto import (
    constrained_order,
    crowding_distance,
    dominates,
    hypervolume,
    non_dominated,
    nondominated_boxes,
    nondominated_ranks,
    reference_point,
    thin_front,
)


def _brute_front(Y: np.ndarray) -> np.ndarray:
    return np.array([not any(dominates(Y[j], Y[i]) for j in range(len(Y)) if j != i) for i in range(len(Y))])


@pytest.mark.parametrize("m", [1, 2, 3, 4])
def test_the_front_is_what_no_point_dominates(m: int) -> None:
    Y = np.round(np.random.default_rng(m).random((40, m)), 1)  # ties on purpose
    keep = non_dominated(Y)
    brute = _brute_front(Y)
    # identical rows: one of them is kept
    assert {tuple(r) for r in Y[keep]} == {tuple(r) for r in Y[brute]}
    assert len({tuple(r) for r in Y[keep]}) == keep.sum()


def test_ranks_peel_fronts_in_turn() -> None:
    Y = np.array([[1, 4], [2, 2], [4, 1], [2, 5], [3, 3], [5, 5]], dtype=float)
    assert nondominated_ranks(Y).tolist() == [0, 0, 0, 1, 1, 2]


def test_crowding_prefers_extremes_and_lonely_points() -> None:
    Y = np.array([[0, 10], [1, 9], [1.1, 8.9], [5, 5], [10, 0]], dtype=float)
    d = crowding_distance(Y)
    assert np.isinf(d[0]) and np.isinf(d[4])
    assert d[3] > d[1] and d[3] > d[2]


def test_constrained_order_puts_feasible_first_then_least_violation() -> None:
    Y = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [3.0, 0.5]])
    order = constrained_order(Y, np.array([5.0, 0.0, 0.0, 1.0]))
    assert order.tolist() == [1, 2, 3, 0]  # the dominating point is the most infeasible one


def _mc_hypervolume(Y: np.ndarray, ref: np.ndarray, rng: np.random.Generator, n: int = 200_000) -> float:
    lo = Y.min(0)
    Z = rng.uniform(lo, ref, size=(n, len(ref)))
    dom = np.zeros(n, dtype=bool)
    for y in Y:
        dom |= np.all(Z >= y, axis=1)
    return dom.mean() * float(np.prod(ref - lo))


@pytest.mark.parametrize("m", [2, 3, 4])
def test_hypervolume_matches_monte_carlo(m: int) -> None:
    rng = np.random.default_rng(10 + m)
    Y = rng.random((15, m))
    ref = np.full(m, 1.1)
    assert hypervolume(Y, ref) == pytest.approx(_mc_hypervolume(Y, ref, rng), rel=0.02)


def test_hypervolume_of_known_fronts() -> None:
    assert hypervolume(np.array([[1.0, 2.0], [2.0, 1.0]]), np.array([3.0, 3.0])) == pytest.approx(3.0)
    assert hypervolume(np.array([[0.0, 0.0, 0.0]]), np.ones(3)) == pytest.approx(1.0)
    assert hypervolume(np.array([[2.0, 0.0]]), np.array([1.0, 1.0])) == 0.0  # beyond the reference: nothing


@pytest.mark.parametrize("m", [1, 2, 3, 4])
def test_boxes_cover_exactly_the_non_dominated_region(m: int) -> None:
    rng = np.random.default_rng(m)
    Y = rng.random((9, m))
    ref = np.full(m, 1.2)
    lower, upper = nondominated_boxes(Y, ref)
    base = np.full(m, -0.5)
    inside = np.clip(upper - np.maximum(lower, base), 0, None).prod(1)
    # disjoint boxes: their volumes add up to the box [base, ref] minus the dominated part
    assert inside.sum() == pytest.approx(np.prod(ref - base) - hypervolume(Y, ref), rel=1e-9)
    Z = rng.uniform(base, ref, size=(20_000, m))
    in_box = np.any(np.all((Z[:, None] >= lower) & (Z[:, None] < upper), axis=2), axis=1)
    dominated = np.any(np.all(Z[:, None] >= Y, axis=2), axis=1)
    assert np.array_equal(in_box, ~dominated)


def test_reference_point_lies_beyond_every_point() -> None:
    Y = np.array([[0.0, 5.0], [1.0, 1.0], [3.0, 0.0]])
    ref = reference_point(Y)
    assert np.all(ref > Y.max(0))
    assert ref.tolist() == pytest.approx([3.3, 5.5])


def test_thinning_keeps_the_extremes() -> None:
    t = np.linspace(0, 1, 500)
    Y = np.column_stack([t, 1 - t, (t - 0.5) ** 2])
    kept = thin_front(Y, m_boxes=400)
    assert 2 <= len(kept) <= 19 and {0, 499} <= set(kept.tolist())
