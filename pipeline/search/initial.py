"""Initial design (scrambled Sobol, size scaling with dimension) and fresh, never-used points.

Points come from one scrambled Sobol sequence per seed, taken in order after snapping to
representable values and skipping points already told or pending, so an interrupted and resumed
sweep continues the same low-discrepancy design. Finite spaces whose Sobol points keep colliding
fall back to enumerating what is left (small spaces) or to seeded uniform draws.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy.stats import qmc

from pipeline.search.columns import EXHAUSTIVE_MAX, Columns, enumerate_points
from pipeline.search.space import SearchSpace

# Initial design size: INITIAL_PER_DIM * (d + 1), clipped to [INITIAL_MIN, INITIAL_MAX].
INITIAL_PER_DIM = 2
INITIAL_MIN = 5
INITIAL_MAX = 20
SOBOL_MAX_POINTS = 2**15  # longest Sobol prefix scanned for unused points
RANDOM_TRIES = 64  # uniform draws per missing point before giving up (huge finite spaces)
DUPLICATE_TOL = 1e-9  # encodings closer than this (every column) are the same point


def default_n_initial(dim: int, cardinality: float = math.inf) -> int:
    """Size of the initial design for ``dim`` parameters (never more than the space holds)."""
    n = min(max(INITIAL_PER_DIM * (dim + 1), INITIAL_MIN), INITIAL_MAX)
    return int(min(n, cardinality))


def novel(X: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Boolean mask ``(m,)``: rows of ``X (m, d)`` that match no row of ``ref (r, d)``."""
    if len(ref) == 0 or len(X) == 0:
        return np.ones(len(X), dtype=bool)
    close = np.abs(X[:, None, :] - ref[None, :, :]) <= DUPLICATE_TOL
    return ~close.all(-1).any(-1)


def unique_count(X: np.ndarray) -> int:
    """Number of distinct rows of ``X (n, d)`` (rounded to 9 decimals; used on finite spaces)."""
    return 0 if len(X) == 0 else len(np.unique(np.round(X, 9), axis=0))


def fresh_points(space: SearchSpace, cols: Columns, seed: int, exclude: np.ndarray, n: int,
                 rng: np.random.Generator) -> np.ndarray:
    """Up to ``n`` distinct snapped points ``(m, d)`` not in ``exclude``, from the seed's Sobol sequence."""
    taken = np.asarray(exclude, dtype=np.float64).reshape(-1, space.dim)
    picked: list[np.ndarray] = []
    size = 2 ** max(4, math.ceil(math.log2(2 * (len(taken) + n))))
    while size <= SOBOL_MAX_POINTS and len(picked) < n:
        for row in cols.snap(sobol(space.dim, seed, size)):
            if len(picked) == n:
                break
            x = space.snap(row[None])
            if novel(x, taken)[0]:
                picked.append(x[0])
                taken = np.vstack([taken, x])
        size *= 4
    if len(picked) < n:
        picked += list(_leftovers(space, cols, taken, n - len(picked), rng))
    return np.array(picked, dtype=np.float64).reshape(-1, space.dim)


def sobol(dim: int, seed: int, n: int) -> np.ndarray:
    """The first ``n`` points of the scrambled Sobol sequence of ``seed``, shape ``(n, dim)``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return qmc.Sobol(dim, scramble=True, seed=seed).random(n)


def _leftovers(space: SearchSpace, cols: Columns, taken: np.ndarray, n: int,
               rng: np.random.Generator) -> np.ndarray:
    """Unused points when the Sobol prefix ran dry: enumerate small spaces, else draw at random."""
    if cols.cardinality() <= EXHAUSTIVE_MAX:
        pool = space.snap(enumerate_points(cols))
        pool = pool[novel(pool, taken)]
        return pool[rng.permutation(len(pool))[:n]]
    out = np.zeros((0, space.dim))
    for _ in range(RANDOM_TRIES * n):
        if len(out) == n:
            break
        x = space.snap(cols.snap(rng.random((1, space.dim))))
        if novel(x, taken)[0] and novel(x, out)[0]:
            out = np.vstack([out, x])
    return out
