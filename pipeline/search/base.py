"""The ask/tell interface every strategy shares, and the trial history it keeps."""

from __future__ import annotations

import inspect
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.objective import DIRECTIONS, MINIMIZE, sign
from pipeline.search.space import SearchSpace, params_equal
from pipeline.tracking.names import TrialState

TOLD = (TrialState.COMPLETE, TrialState.FAILED, TrialState.PRUNED)  # the states ``tell`` takes: a trial's end


@dataclass
class Trial:
    """One told trial: its parameters, objective (None when failed) and state."""

    params: dict[str, Any]
    value: float | None
    state: TrialState = TrialState.COMPLETE


class Optimizer(ABC):
    """Proposes points with ``ask`` and learns from results given to ``tell``.

    Subclasses implement ``_propose(n)``: return up to ``n`` unit-cube points, shape ``(m, d)``
    (``m < n`` only when a finite space is exhausted), that differ from ``self.pending_X`` (asked,
    not yet told). Values are kept internally as losses (``self.sign * value``) so every strategy
    minimizes. Subclasses taking options accept ``**options`` and pass them to ``_reject_options``.
    """

    def __init__(self, space: SearchSpace, seed: int = 0, direction: str = MINIMIZE) -> None:
        if direction not in DIRECTIONS:
            raise ValueError(f"direction={direction!r} must be one of {DIRECTIONS}")
        self.space = space
        self.seed = int(seed)
        self.direction = direction
        self.sign = sign(direction)
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

    def tell(self, params: Mapping[str, Any], value: float | None, state: TrialState | str | None = None) -> None:
        """Record a result. ``value=None`` (or NaN/inf) marks the trial failed; ``state`` may say pruned.

        ``state="complete"`` with ``value=None`` is a trial that ended normally without reporting a value:
        its point is used, but there is nothing to learn from it. Told points need not have been asked: a
        resumed sweep re-tells finished trials.
        """
        if state is not None and state not in TOLD:
            raise ValueError(f"state={str(state)!r} must be 'complete', 'failed' or 'pruned'")
        params = self.space.validate(params)
        finite = value is not None and math.isfinite(float(value))
        if state in (TrialState.COMPLETE, TrialState.PRUNED) and value is not None and not finite:
            raise ValueError(f"state={str(state)!r} needs a finite value or None, got {value!r}")
        self._drop_pending(params)
        told = TrialState(state) if state is not None else TrialState.COMPLETE if finite else TrialState.FAILED
        self.trials.append(Trial(params, float(value) if finite else None, told))
        self._on_tell(self.trials[-1])

    def add_pending(self, params: Mapping[str, Any]) -> None:
        """Register a running trial that was not asked from this optimizer (a re-run after resume)."""
        self.pending.append(self.space.validate(params))

    def best(self) -> tuple[dict[str, Any], float]:
        """The best completed trial as ``(params, value)``; raises when there is none."""
        done = [t for t in self.trials if t.state == TrialState.COMPLETE and t.value is not None]
        if not done:
            raise ValueError("no completed trial yet: best() needs at least one finite result")
        t = min(done, key=lambda t: self.sign * t.value)
        return dict(t.params), t.value

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
