"""The ask/tell interface every strategy shares, and the trial history it keeps."""

from __future__ import annotations

import inspect
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.objective import DIRECTIONS, MINIMIZE, sign
from pipeline.search.space import SearchSpace, params_equal
from pipeline.tracking.names import TrialState

TOLD = (TrialState.COMPLETE, TrialState.FAILED, TrialState.PRUNED)  # the states ``tell`` takes: a trial's end


@dataclass
class Trial:
    """One told trial: its parameters, objective (None when failed; a tuple, one value per objective, when the
    optimizer has several), state, and constraint values (each met when <= 0; None when it has none)."""

    params: dict[str, Any]
    value: float | tuple[float, ...] | None
    state: TrialState = TrialState.COMPLETE
    constraints: tuple[float, ...] | None = None

    @property
    def feasible(self) -> bool:
        """Whether every constraint is met (a trial without constraint values is feasible)."""
        return self.constraints is None or all(c <= 0 for c in self.constraints)

    @property
    def violation(self) -> float:
        """How far past its limits the trial is in all: the sum of the positive constraint values."""
        return 0.0 if self.constraints is None else float(sum(max(c, 0.0) for c in self.constraints))


class Optimizer(ABC):
    """Proposes points with ``ask`` and learns from results given to ``tell``.

    Subclasses implement ``_propose(n)``: return up to ``n`` unit-cube points, shape ``(m, d)``
    (``m < n`` only when a finite space is exhausted), that differ from ``self.pending_X`` (asked,
    not yet told). Values are kept internally as losses (``self.sign * value``) so every strategy
    minimizes. Subclasses taking options accept ``**options`` and pass them to ``_reject_options``.

    Several objectives: ``direction`` is a sequence, one per objective; ``tell`` takes a sequence of values and
    ``front()`` replaces ``best()``. Constraints: ``tell(..., constraints=[c_1, ...])``, each met when ``c_k <= 0``
    (Optuna's convention); an infeasible trial is never the best nor on the front.
    """

    def __init__(self, space: SearchSpace, seed: int = 0, direction: str | Sequence[str] = MINIMIZE) -> None:
        directions = (direction,) if isinstance(direction, str) else tuple(direction)
        if not directions or any(d not in DIRECTIONS for d in directions):
            raise ValueError(f"direction={direction!r} must be one of {DIRECTIONS}, or a sequence of them")
        self.space = space
        self.seed = int(seed)
        self.directions = directions
        self.n_objectives = len(directions)
        self.signs = np.array([sign(d) for d in directions])
        self.direction = directions[0]
        self.sign = sign(self.direction)
        self.trials: list[Trial] = []
        self.pending: list[dict[str, Any]] = []

    # -- public API -------------------------------------------------------------------------
    def ask(self, n: int = 1) -> list[dict[str, Any]]:
        """Propose up to ``n`` parameter dicts (fewer only when a finite space is exhausted)."""
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"ask(n={n!r}): n must be an integer >= 1")
        if self.space.dim:
            X = np.asarray(self._propose(int(n)), dtype=np.float64).reshape(-1, self.space.dim)[:n]
        else:  # nothing to search: the fixed values form a single point
            X = np.zeros((max(0, min(n, 1 - len(self.trials) - len(self.pending))), 0))
        proposals = self.space.decode(X) if len(X) else []
        self.pending.extend(proposals)
        return [dict(p) for p in proposals]

    @property
    def multi(self) -> bool:
        return self.n_objectives > 1

    def tell(self, params: Mapping[str, Any], value: float | Sequence[float] | None,
             state: TrialState | str | None = None, constraints: Sequence[float] | None = None) -> None:
        """Record a result. ``value=None`` (or NaN/inf) marks the trial failed; ``state`` may say pruned.

        ``state="complete"`` with ``value=None`` is a trial that ended normally without reporting a value:
        its point is used, but there is nothing to learn from it. Told points need not have been asked: a
        resumed sweep re-tells finished trials. With several objectives ``value`` holds one per objective (a
        non-finite one fails the trial). ``constraints``: the trial's constraint values, met when <= 0.
        """
        if state is not None and state not in TOLD:
            raise ValueError(f"state={str(state)!r} must be 'complete', 'failed' or 'pruned'")
        params = self.space.validate(params)
        value = self._values(value)
        finite = value is not None and all(math.isfinite(v) for v in np.atleast_1d(value))
        if state in (TrialState.COMPLETE, TrialState.PRUNED) and value is not None and not finite:
            raise ValueError(f"state={str(state)!r} needs a finite value or None, got {value!r}")
        cons = None if constraints is None else tuple(float(c) for c in constraints)
        if cons is not None and not all(math.isfinite(c) for c in cons):
            raise ValueError(f"constraints={constraints!r}: expected finite numbers (<= 0 where met)")
        self._drop_pending(params)
        told = TrialState(state) if state is not None else TrialState.COMPLETE if finite else TrialState.FAILED
        self.trials.append(Trial(params, value if finite else None, told, cons))
        self._on_tell(self.trials[-1])

    def _values(self, value: Any) -> float | tuple[float, ...] | None:
        """``value`` as a float (one objective) or a tuple of floats (several); None stays None."""
        if value is None:
            return None
        if self.multi:
            if isinstance(value, (str, bytes)) or not isinstance(value, Sequence | np.ndarray) or \
                    len(value) != self.n_objectives:
                raise ValueError(f"value={value!r}: expected {self.n_objectives} values, one per objective")
            return tuple(float(v) for v in value)
        if isinstance(value, Sequence | np.ndarray) and not isinstance(value, str):
            if len(value) != 1:
                raise ValueError(f"value={value!r}: expected one number, this optimizer has one objective")
            value = value[0]
        return float(value)

    def add_pending(self, params: Mapping[str, Any]) -> None:
        """Register a running trial that was not asked from this optimizer (a re-run after resume)."""
        self.pending.append(self.space.validate(params))

    def best(self) -> tuple[dict[str, Any], float]:
        """The best feasible completed trial as ``(params, value)``; raises when there is none (and with several
        objectives, which have a front instead)."""
        if self.multi:
            raise ValueError("several objectives have no single best: use front()")
        done = [t for t in self.trials if t.state == TrialState.COMPLETE and t.value is not None and t.feasible]
        if not done:
            raise ValueError("no completed trial yet (none feasible): best() needs at least one finite result")
        t = min(done, key=lambda t: self.sign * t.value)
        return dict(t.params), t.value

    def front(self) -> list[Trial]:
        """The feasible completed trials no other one dominates (one objective: the best), in the order told."""
        from pipeline.search.pareto import non_dominated

        done = [t for t in self.trials if t.state == TrialState.COMPLETE and t.value is not None and t.feasible]
        if not done:
            return []
        keep = non_dominated(np.array([np.atleast_1d(t.value) for t in done]) * self.signs)
        return [t for t, k in zip(done, keep) if k]

    # -- for subclasses ---------------------------------------------------------------------
    @abstractmethod
    def _propose(self, n: int) -> np.ndarray:
        """Return up to ``n`` new unit-cube points, shape ``(m, d)`` with ``m <= n``."""

    def _on_tell(self, trial: Trial) -> None:  # noqa: B027 - optional hook, deliberately empty
        """Hook called after each ``tell``."""

    @property
    def pending_X(self) -> np.ndarray:
        return self.space.encode(self.pending)

    def observed(self, states: tuple[str, ...] = (TrialState.COMPLETE,)) -> tuple[np.ndarray, np.ndarray]:
        """Encoded points ``(n, d)`` and losses ``(n,)`` of told trials in ``states`` with a value."""
        ts = [t for t in self.trials if t.state in states and t.value is not None]
        return self.space.encode(t.params for t in ts), np.array([self.sign * t.value for t in ts])

    def observed_multi(self, states: tuple[str, ...] = (TrialState.COMPLETE,)
                       ) -> tuple[np.ndarray, np.ndarray, list[Trial]]:
        """Encoded points ``(n, d)``, losses ``(n, m)`` (one column per objective) and the trials themselves, of
        told trials in ``states`` with a value."""
        ts = [t for t in self.trials if t.state in states and t.value is not None]
        Y = np.array([np.atleast_1d(t.value) for t in ts], dtype=float).reshape(len(ts), self.n_objectives)
        return self.space.encode(t.params for t in ts), Y * self.signs, ts

    @property
    def all_X(self) -> np.ndarray:
        """Every point told or pending, shape ``(n, d)``: what must not be proposed again."""
        return self.space.encode([t.params for t in self.trials] + self.pending)

    def _is_pending(self, params: Mapping[str, Any]) -> bool:
        """Whether ``params`` (validated first) were asked and not yet told."""
        params = self.space.validate(params)
        return any(params_equal(p, params, self.space.names) for p in self.pending)

    def _drop_pending(self, params: Mapping[str, Any]) -> None:
        for i, p in enumerate(self.pending):
            if params_equal(p, params, self.space.names):
                del self.pending[i]
                return

    def _reject_options(self, options: Mapping[str, Any]) -> None:
        """Raise ValueError for option names the subclass's ``__init__`` does not take."""
        if options:
            sig = inspect.signature(type(self).__init__).parameters.values()
            known = [p.name for p in sig if p.name not in ("self", "space") and p.kind is p.POSITIONAL_OR_KEYWORD]
            raise ValueError(f"{type(self).__name__}: unknown option(s) {sorted(options)}; expected {known}")
