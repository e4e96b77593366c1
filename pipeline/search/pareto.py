"""Pareto fronts, hypervolume and the non-dominated region, as pure functions of loss arrays (every objective
minimized: ``Y (n, m)``, multiply a maximized value by -1 first).

* ``non_dominated``: the front; ``nondominated_ranks`` and ``crowding_distance``: NSGA-II's sort (Deb et al.
  2002, "A fast and elitist multiobjective genetic algorithm: NSGA-II"); ``constrained_order`` adds Deb's
  feasibility rule (a feasible point beats an infeasible one, infeasible ones by total violation).
* ``hypervolume``: the volume dominated by ``Y`` and bounded by a reference point ``ref``, exact.
* ``nondominated_boxes``: the region *not* dominated by ``Y`` below ``ref`` cut into disjoint boxes, the form
  expected hypervolume improvement sums over (Yang et al. 2019, "Efficient computation of expected hypervolume
  improvement using box decomposition algorithms"). On a grid of the points' coordinates in the first ``m - 1``
  objectives, each cell is non-dominated below the least last coordinate of the points that dominate its lower
  corner, so one box per cell: ``(n + 1)^(m - 1)`` at most, merged along the first axis where they agree.
"""

from __future__ import annotations

import numpy as np

MAX_BOXES = 200_000  # the decomposition's size beyond which the front is thinned first (``thin_front``)


def _rows(Y: np.ndarray) -> np.ndarray:
    """``Y`` as a float array ``(n, m)``; an empty one keeps its width when it has one."""
    Y = np.asarray(Y, dtype=float)
    if Y.ndim == 2:
        return Y
    return Y.reshape(len(Y), -1) if Y.size else Y.reshape(0, 0)


def dominates(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether ``a`` is at least as good as ``b`` everywhere and better somewhere."""
    return bool(np.all(a <= b) and np.any(a < b))


def non_dominated(Y: np.ndarray) -> np.ndarray:
    """Mask ``(n,)`` of the rows no other row dominates; of identical rows, the first is kept."""
    Y = _rows(Y)
    n = len(Y)
    keep = np.ones(n, dtype=bool)
    for i in range(n):
        if not keep[i]:
            continue
        le = np.all(Y <= Y[i], axis=1)
        lt = np.any(Y < Y[i], axis=1)
        if np.any(le & lt):
            keep[i] = False
            continue
        same = np.all(Y == Y[i], axis=1)
        same[: i + 1] = False
        keep[same] = False
    return keep


def nondominated_ranks(Y: np.ndarray) -> np.ndarray:
    """NSGA-II's rank of each row ``(n,)``: 0 on the front, 1 on the front of the rest, and so on."""
    Y = _rows(Y)
    ranks = np.full(len(Y), -1)
    left = np.arange(len(Y))
    r = 0
    while len(left):
        front = _front_with_ties(Y[left])
        ranks[left[front]] = r
        left = left[~front]
        r += 1
    return ranks


def _front_with_ties(Y: np.ndarray) -> np.ndarray:
    le = np.all(Y[:, None, :] <= Y[None, :, :], axis=2)
    lt = np.any(Y[:, None, :] < Y[None, :, :], axis=2)
    return ~np.any(le & lt, axis=0)


def crowding_distance(Y: np.ndarray) -> np.ndarray:
    """NSGA-II's crowding distance of each row of one front ``(n,)``: the normalized perimeter of the cuboid its
    neighbours span in each objective; the extremes get infinity."""
    Y = _rows(Y)
    n, m = Y.shape
    out = np.zeros(n)
    if n <= 2:
        return np.full(n, np.inf)
    for j in range(m):
        order = np.argsort(Y[:, j], kind="stable")
        span = Y[order[-1], j] - Y[order[0], j]
        out[order[0]] = out[order[-1]] = np.inf
        if span > 0:
            out[order[1:-1]] += (Y[order[2:], j] - Y[order[:-2], j]) / span
    return out


def constrained_order(Y: np.ndarray, violation: np.ndarray | None = None) -> np.ndarray:
    """Indices of the rows from best to worst: feasible ones (``violation <= 0``, None: all) by non-dominated rank
    then crowding (wider first), then infeasible ones by total violation (Deb's constrained domination)."""
    Y = _rows(Y)
    v = np.zeros(len(Y)) if violation is None else np.asarray(violation, dtype=float)
    feasible = np.flatnonzero(v <= 0)
    ranks = nondominated_ranks(Y[feasible])
    crowd = np.zeros(len(feasible))
    for r in np.unique(ranks):
        at = ranks == r
        crowd[at] = crowding_distance(Y[feasible][at])
    good = feasible[np.lexsort((-crowd, ranks))]
    bad = np.flatnonzero(v > 0)
    return np.concatenate([good, bad[np.argsort(v[bad], kind="stable")]]).astype(int)


def hypervolume(Y: np.ndarray, ref: np.ndarray) -> float:
    """The volume dominated by the rows of ``Y`` and bounded by ``ref`` (rows not below ``ref`` add nothing)."""
    Y = _rows(Y)
    ref = np.asarray(ref, dtype=float)
    Y = Y[np.all(Y < ref, axis=1)]
    if len(Y) == 0:
        return 0.0
    Y = Y[non_dominated(Y)]
    if Y.shape[1] == 1:
        return float(ref[0] - Y[:, 0].min())
    if Y.shape[1] == 2:
        Y = Y[np.argsort(Y[:, 0])]
        widths = np.diff(np.append(Y[:, 0], ref[0]))
        return float(np.sum(widths * (ref[1] - np.minimum.accumulate(Y[:, 1]))))
    # Slice along the last objective: between consecutive values, the (m-1)-dimensional volume of the points
    # at or below the slice (exact, fine for the few dozen points of a front).
    Y = Y[np.argsort(Y[:, -1])]
    levels = np.append(Y[:, -1], ref[-1])
    return float(sum((levels[i + 1] - levels[i]) * hypervolume(Y[: i + 1, :-1], ref[:-1])
                     for i in range(len(Y)) if levels[i + 1] > levels[i]))


def nondominated_boxes(Y: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The region below ``ref`` that no row of ``Y`` dominates, as disjoint boxes: ``(lower, upper)``, each
    ``(k, m)``; lower bounds may be ``-inf``. Their union is where a new point adds hypervolume."""
    Y = _rows(Y)
    ref = np.asarray(ref, dtype=float)
    m = len(ref)
    Y = Y[np.all(Y < ref, axis=1)]
    Y = Y[non_dominated(Y)] if len(Y) else Y
    if len(Y) == 0:
        return np.full((1, m), -np.inf), ref[None].copy()
    if m == 1:
        return np.full((1, 1), -np.inf), Y[:, :1].min(0, keepdims=True)
    # Grid cell edges in each of the first m-1 objectives: -inf, the points' values, ref.
    edges = [np.concatenate([[-np.inf], np.unique(Y[:, j]), [ref[j]]]) for j in range(m - 1)]
    lows = np.stack(np.meshgrid(*[e[:-1] for e in edges], indexing="ij"), -1).reshape(-1, m - 1)
    highs = np.stack(np.meshgrid(*[e[1:] for e in edges], indexing="ij"), -1).reshape(-1, m - 1)
    # A point dominates a cell's lower corner in the first m-1 objectives: the cell is dominated above its value.
    covers = np.all(Y[None, :, :-1] <= lows[:, None, :], axis=2)  # (cells, points)
    top = np.where(covers, Y[None, :, -1], ref[-1]).min(axis=1)
    lower = np.column_stack([lows, np.full(len(lows), -np.inf)])
    upper = np.column_stack([highs, top])
    return _merge_first_axis(lower, upper)


def _merge_first_axis(lower: np.ndarray, upper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Boxes adjacent along the first objective with equal bounds elsewhere, joined: fewer boxes, same union."""
    if len(lower) < 2:
        return lower, upper
    key = np.column_stack([lower[:, 1:], upper[:, 1:]])
    order = np.lexsort((lower[:, 0], *key.T[::-1]))
    lo, up, k = lower[order], upper[order], key[order]
    out_lo, out_up = [lo[0].copy()], [up[0].copy()]
    for i in range(1, len(lo)):
        if np.array_equal(k[i], k[i - 1]) and lo[i, 0] == out_up[-1][0]:
            out_up[-1][0] = up[i, 0]
        else:
            out_lo.append(lo[i].copy())
            out_up.append(up[i].copy())
    return np.array(out_lo), np.array(out_up)


def reference_point(Y: np.ndarray, margin: float = 0.1) -> np.ndarray:
    """A reference point for losses ``Y``: each objective's worst value plus ``margin`` of its range (the nadir
    rule of BoTorch's ``infer_reference_point``), so that the front's extremes count."""
    Y = _rows(Y)
    worst, best = Y.max(0), Y.min(0)
    span = np.where(worst > best, worst - best, np.maximum(np.abs(worst), 1.0))
    return worst + margin * span


def thin_front(Y: np.ndarray, m_boxes: int = MAX_BOXES) -> np.ndarray:
    """Indices of at most as many front points as keep ``(n + 1)^(m - 1)`` under ``m_boxes``: the widest by
    crowding distance (the extremes always)."""
    n, m = _rows(Y).shape
    cap = max(2, int(m_boxes ** (1.0 / max(1, m - 1))) - 1)
    if n <= cap:
        return np.arange(n)
    return np.argsort(-crowding_distance(Y), kind="stable")[:cap]
