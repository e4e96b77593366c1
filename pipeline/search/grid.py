"""Grid search: the Cartesian product of every parameter's values, like Hydra's basic sweeper."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from pipeline.objective import MINIMIZE
from pipeline.search.base import Optimizer
from pipeline.search.space import SearchSpace


class GridOptimizer(Optimizer):
    """Walk the full grid in order: the first parameter varies slowest (as Hydra's basic sweeper does).

    Choices and ranges contribute every value; intervals contribute ``grid_points`` values, evenly
    spaced (in log space on log scale). ``n_trials`` below the grid's size takes a subset that tries every
    value of every parameter as evenly as the count allows (``balanced_subset``), not the grid's first
    points; ``shuffle=True`` visits the points in a random order fixed by ``seed``. Points already told or pending are
    skipped, so a fresh optimizer
    told the finished trials of a resumed sweep continues where it stopped. The grid is indexed
    lazily, so a large product costs nothing until it is walked. A space with conditions is walked over its
    distinct points only (combinations differing only in inactive values are one point), listed up front.
    """

    def __init__(self, space: SearchSpace, seed: int = 0, direction: str | Sequence[str] = MINIMIZE,
                 grid_points: int | None = None, n_trials: int | None = None, shuffle: bool = False,
                 **options: Any) -> None:
        super().__init__(space, seed=seed, direction=direction)
        self._reject_options(options)
        self.grid_points = _optional_int("grid_points", grid_points, minimum=2)
        self.n_trials = _optional_int("n_trials", n_trials, minimum=1)
        if not isinstance(shuffle, (bool, np.bool_)):
            raise ValueError(f"shuffle={shuffle!r}: expected true or false")
        self.shuffle = bool(shuffle)
        # One column of unit-cube codes per parameter; grid values round-trip exactly through decode.
        self._columns = [np.array([p.to_unit(v) for v in p.grid(self.grid_points)]) for p in space.params]
        self.n_grid = math.prod(len(c) for c in self._columns)
        self._rows = conditional_points(space, self._columns) if space.conditions else None
        if self._rows is not None:
            self.n_grid = len(self._rows)
        self.n_total = self.n_grid if self.n_trials is None else min(self.n_grid, self.n_trials)
        sizes = [len(c) for c in self._columns]
        order = None
        if self.n_total < self.n_grid:
            order = (balanced_subset(sizes, self.n_total) if self._rows is None
                     else balanced_rows(self._rows, self.n_total))
        if self.shuffle:
            order = np.random.default_rng(self.seed).permutation(self.n_grid if order is None else order)
        self._order = order
        self._cursor = 0  # grid positions before it were proposed or found already done

    def _propose(self, n: int) -> np.ndarray:
        done = {_key(x) for x in self.all_X}
        rows: list[np.ndarray] = []
        while len(rows) < n and self._cursor < self.n_total:
            row = self._point(self._cursor)
            self._cursor += 1
            if _key(row) not in done:
                done.add(_key(row))
                rows.append(row)
        return np.array(rows, dtype=np.float64).reshape(len(rows), self.space.dim)

    def _point(self, position: int) -> np.ndarray:
        """Unit-cube point at ``position`` of the (shuffled) walk: a mixed-radix digit per parameter."""
        index = int(self._order[position]) if self._order is not None else position
        if self._rows is not None:
            return self._rows[index]
        row = np.empty(len(self._columns))
        for k in reversed(range(len(self._columns))):  # last parameter varies fastest
            index, digit = divmod(index, len(self._columns[k]))
            row[k] = self._columns[k][digit]
        return row


def conditional_points(space: SearchSpace, columns: list[np.ndarray], limit: int = 1_000_000) -> np.ndarray:
    """The distinct points ``(m, d)`` of the grid on ``columns`` of a conditional space, in walk order."""
    import itertools

    size = math.prod(len(c) for c in columns)
    if size > limit:
        raise ValueError(f"grid: {size} combinations before conditions, more than {limit} to list; search fewer "
                         "values or use random or bayes")
    rows = space.snap(np.array(list(itertools.product(*columns)), dtype=np.float64).reshape(size, len(columns)))
    _, first = np.unique(np.round(rows, 12), axis=0, return_index=True)
    return rows[np.sort(first)]


def balanced_rows(rows: np.ndarray, n: int) -> np.ndarray:
    """``n`` of ``rows`` (indices) in which each value of each column (inactive counting as one) appears as evenly
    as ``n`` allows: each pick is the free row whose values were used least so far (the first in walk order)."""
    codes = [np.unique(np.round(rows[:, j], 12), return_inverse=True)[1].ravel() for j in range(rows.shape[1])]
    counts = [np.zeros(int(c.max()) + 1) for c in codes]
    free = np.ones(len(rows), dtype=bool)
    out = []
    for _ in range(n):
        use = sum((counts[j][c] for j, c in enumerate(codes)), np.zeros(len(rows)))
        use[~free] = np.inf
        i = int(np.argmin(use))
        free[i] = False
        out.append(i)
        for j, c in enumerate(codes):
            counts[j][c[i]] += 1
    return np.array(out, dtype=np.int64)


def balanced_subset(sizes: list[int], n: int, restarts: int = 20) -> np.ndarray:
    """``n`` distinct flat indices of the grid with ``sizes`` values per parameter (first parameter slowest), in
    which each value of each parameter appears as evenly as ``n`` allows.

    Greedy: each point takes, for every parameter, one of its least-used values so far, the first such
    combination not taken yet (least-used ties in a seeded random order); when all are taken, the free point
    with the smallest total use. A few seeded restarts keep the most even subset (first one even to +-1 wins).
    """
    best, best_spread = None, None
    for seed in range(restarts):
        out, counts = _greedy_subset(sizes, n, np.random.default_rng(seed))
        spread = max(int(c.max() - c.min()) for c in counts)
        if best_spread is None or spread < best_spread:
            best, best_spread = out, spread
        if spread <= 1:
            break
    return np.array(best, dtype=np.int64)


def _greedy_subset(sizes: list[int], n: int, rng: np.random.Generator) -> tuple[list[int], list[np.ndarray]]:
    import itertools

    counts = [np.zeros(k, dtype=int) for k in sizes]
    strides = np.cumprod([1, *sizes[::-1]])[:-1][::-1]
    taken: set[int] = set()
    out: list[int] = []
    while len(out) < n:
        least = [rng.permutation(np.flatnonzero(c == c.min())) for c in counts]
        combos = itertools.islice(itertools.product(*least), 10_000)
        index = next((i for i in (int(np.dot(c, strides)) for c in combos) if i not in taken), None)
        if index is None:  # every least-used combination is taken: the free point used least in all
            pool = [i for i in rng.choice(math.prod(sizes), min(math.prod(sizes), 10_000), replace=False).tolist()
                    if i not in taken] or [i for i in range(math.prod(sizes)) if i not in taken]
            index = min(pool, key=lambda i: sum(int(counts[k][d]) for k, d in enumerate(_digits(i, sizes))))
        taken.add(index)
        out.append(index)
        for k, digit in enumerate(_digits(index, sizes)):
            counts[k][digit] += 1
    return out, counts


def _digits(index: int, sizes: list[int]) -> list[int]:
    digits = []
    for k in reversed(sizes):
        index, d = divmod(index, k)
        digits.append(d)
    return digits[::-1]


def _key(x: np.ndarray) -> tuple[float, ...]:
    return tuple(np.round(x, 12).tolist())


def _optional_int(name: str, value: Any, minimum: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name}={value!r}: expected an integer >= {minimum} (or None)")
    return int(value)
