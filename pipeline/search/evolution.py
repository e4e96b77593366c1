"""``evolution``: regularized (aging) evolution, Real, Aggarwal, Huang & Le, "Regularized Evolution for Image
Classifier Architecture Search" (AAAI 2019), behind the ask/tell ``Optimizer`` API.

The population is the ``population`` trials told last (aging: the oldest leaves as a child is told, however good
it was, which keeps the search from settling on one lucky evaluation). Each child: ``sample_size`` members drawn
at random (a tournament), the best of them copied and mutated in one parameter active there. A numeric value
moves by a Gaussian step in the space's unit encoding (log scale in log) or, one time in ``RESAMPLE``, is drawn
afresh; a choice changes to another value. Parameters the mutation makes active (a new model family's own) are
drawn at random; inactive ones are dropped (``SearchSpace`` conditions). Until ``population`` trials have been
asked, children are space-filling (scrambled Sobol) points.

Asynchronous as in the paper: a child is proposed whenever a worker frees up, from the trials told so far.
Everything is a function of the seed and the told history, so a resumed sweep (its trials told again in order)
continues as it would have. Failed trials count as the worst members (they age out like the rest); pruned ones
enter with their last value, raised to at least the population's median (a pruner stopped them for looking no
better than typical), as ``bayes`` does. ``parent_of`` says which told trial a child was mutated from (lineage).

Several objectives or constraints: a tournament's winner is the member first in NSGA-II's order over the
population (Deb et al. 2002): feasible before infeasible (these by total violation), then non-dominated rank,
then crowding distance, wider first (``pareto.constrained_order``); aging is unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from pipeline.objective import MINIMIZE
from pipeline.search.base import Optimizer
from pipeline.search.columns import Columns
from pipeline.search.initial import fresh_points, novel
from pipeline.search.pareto import constrained_order
from pipeline.search.space import SearchSpace
from pipeline.tracking.names import TrialState

DEFAULT_POPULATION = 16  # the paper's P = 100 for 20k models; a few dozen trials need a smaller population
DEFAULT_SAMPLE_SIZE = 4  # S = P / 4, the ratio of the paper's best setting (P = 100, S = 25)
STEP = 0.15              # Gaussian step of a numeric mutation, in the unit encoding
RESAMPLE = 4             # one numeric mutation in this many draws its value afresh
MUTATION_TRIES = 32      # mutations tried before a child that repeats a trial gives way to a fresh point


class EvolutionOptimizer(Optimizer):
    """Regularized evolution; options ``population`` (P >= 2) and ``sample_size`` (2 <= S <= P)."""

    def __init__(self, space: SearchSpace, seed: int = 0, direction: str | Sequence[str] = MINIMIZE,
                 population: int | None = None, sample_size: int | None = None, **options: Any) -> None:
        super().__init__(space, seed=seed, direction=direction)
        self._reject_options(options)
        self.population = _int("population", DEFAULT_POPULATION if population is None else population, 2)
        default_s = min(DEFAULT_SAMPLE_SIZE, self.population)
        self.sample_size = _int("sample_size", default_s if sample_size is None else sample_size, 1)
        if self.sample_size > self.population:
            raise ValueError(f"sample_size={self.sample_size}: expected an integer <= population ({self.population})")
        self.cols = Columns.from_space(space)
        self._parents: dict[tuple[float, ...], dict[str, Any]] = {}  # child -> the trial it was mutated from

    def parent_of(self, params: Mapping[str, Any]) -> dict[str, Any] | None:
        """The told trial's parameters ``params`` were mutated from; None for a space-filling point."""
        return self._parents.get(_key(self.space.encode([params])[0]))

    def members(self) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]:
        """The population: encoded points ``(m, d)``, losses ``(m,)`` (inf for a failed trial) and parameters.
        With several objectives or constraints, a member's loss is its place in ``constrained_order``."""
        recent = self.trials[-self.population:]
        if self.multi or any(t.constraints is not None for t in recent):
            return self.space.encode([t.params for t in recent]), self._places(recent), [t.params for t in recent]
        done = [self.sign * t.value for t in self.trials if t.state == TrialState.COMPLETE and t.value is not None]
        floor = float(np.median(done)) if done else -math.inf
        losses = []
        for t in recent:
            if t.value is None:
                losses.append(math.inf)
            elif t.state == TrialState.PRUNED:
                losses.append(max(self.sign * t.value, floor))
            else:
                losses.append(self.sign * t.value)
        return self.space.encode([t.params for t in recent]), np.array(losses, dtype=float), [t.params for t in recent]

    def _places(self, recent: list[Any]) -> np.ndarray:
        """Each member's place in NSGA-II's constrained order (0 best; inf for a failed one)."""
        _, done, _ = self.observed_multi((TrialState.COMPLETE,))
        floor = np.median(done, axis=0) if len(done) else None
        rows = [i for i, t in enumerate(recent) if t.value is not None]
        Y = np.array([np.atleast_1d(recent[i].value) for i in rows], dtype=float).reshape(len(rows), len(self.signs))
        Y = Y * self.signs
        for r, i in enumerate(rows):
            if recent[i].state == TrialState.PRUNED and floor is not None:
                Y[r] = np.maximum(Y[r], floor)
        places = np.full(len(recent), math.inf)
        if rows:
            order = constrained_order(Y, np.array([recent[i].violation for i in rows]))
            places[np.array(rows)[order]] = np.arange(len(order), dtype=float)
        return places

    def _propose(self, n: int) -> np.ndarray:
        out = np.zeros((0, self.space.dim))
        for _ in range(n):
            rng = np.random.default_rng([self.seed, len(self.trials), len(self.pending) + len(out)])
            taken = np.vstack([self.all_X, out])
            X, losses, params = self.members()
            child = None
            if len(self.trials) + len(self.pending) + len(out) >= self.population and np.isfinite(losses).any():
                for _ in range(MUTATION_TRIES):
                    drawn = rng.choice(len(losses), size=min(self.sample_size, len(losses)), replace=False)
                    best = int(drawn[np.argmin(losses[drawn])])
                    if not np.isfinite(losses[best]):
                        continue
                    x = self.mutate(X[best], rng)
                    if novel(x[None], taken)[0]:
                        child = x[None]
                        self._parents[_key(x)] = dict(params[best])
                        break
            if child is None:
                child = fresh_points(self.space, self.cols, self.seed, taken, 1, rng)
                if len(child) == 0:
                    break
            out = np.vstack([out, child])
        return out

    def mutate(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``x`` (encoded) changed in one parameter active there; the point it becomes, snapped and made whole."""
        active = [j for j, p in enumerate(self.space.params) if x[j] >= 0 and p.n_values != 1]
        child = x.copy()
        if not active:
            return self.space.snap(child[None])[0]
        j = int(rng.choice(active))
        levels = self.cols.levels[j]
        if self.space.is_categorical[j]:
            others = levels[np.abs(levels - x[j]) > 1e-9]
            child[j] = float(rng.choice(others))
        elif rng.integers(RESAMPLE) == 0:
            child[j] = rng.random() if levels is None else float(rng.choice(levels))
        else:
            child[j] = _reflect(x[j] + STEP * rng.standard_normal())
            if levels is not None:  # an ordered discrete value: at least one level away
                here = int(np.argmin(np.abs(levels - x[j])))
                near = int(np.argmin(np.abs(levels - child[j])))
                if near == here:
                    near = here + (1 if (child[j] >= x[j] and here + 1 < len(levels)) or here == 0 else -1)
                child[j] = levels[int(np.clip(near, 0, len(levels) - 1))]
        fresh = rng.random(len(child))  # values for the parameters the change makes active
        child = np.where(child < 0, fresh, child)
        return self.space.snap(self.cols.snap(child[None]))[0]


def _reflect(u: float) -> float:
    """``u`` folded back into ``[0, 1]``."""
    u = abs(u) % 2.0
    return 2.0 - u if u > 1.0 else u


def _key(x: np.ndarray) -> tuple[float, ...]:
    return tuple(np.round(x, 9).tolist())


def _int(name: str, value: Any, minimum: int) -> int:
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if not ok or int(value) < minimum:
        raise ValueError(f"{name}={value!r}: expected an integer >= {minimum}")
    return int(value)
