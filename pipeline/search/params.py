"""Parameter kinds (float, int, categorical) and how each maps its values to and from ``[0, 1]``.

See ``pipeline.search.space`` for the encoding contract every optimizer relies on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class FloatParam:
    """A real parameter in ``[low, high]``; ``step`` makes it discrete (values ``low + k*step``)."""

    name: str
    low: float
    high: float
    log: bool = False
    step: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "low", _number(self.name, "low", self.low))
        object.__setattr__(self, "high", _number(self.name, "high", self.high))
        _check_bounds(self.name, self.low, self.high, self.log)
        if self.step is not None:
            if not _number(self.name, "step", self.step) > 0:
                raise ValueError(f"parameter '{self.name}': step={self.step} must be > 0")
            if self.log:
                raise ValueError(f"parameter '{self.name}': log scale cannot be combined with step={self.step}")
            object.__setattr__(self, "step", float(self.step))

    @property
    def n_values(self) -> int:
        """Number of distinct values (0 for a continuous parameter)."""
        return 0 if self.step is None else int(math.floor((self.high - self.low) / self.step + 1e-9)) + 1

    def values(self) -> list[float]:
        return [min(_clean_float(self.low + i * self.step), self.high) for i in range(self.n_values)]

    def check(self, value: Any) -> float:
        """``value`` as a float, or a ValueError naming the parameter when it is not one of ours."""
        v = _to_float(self.name, value)
        _check_inside(self.name, value, v, self.low, self.high)
        if self.step is not None and abs((v - self.low) / self.step - round((v - self.low) / self.step)) > 1e-6:
            raise ValueError(f"parameter '{self.name}': {value!r} is not low + k*step "
                             f"(low={self.low}, step={self.step})")
        return v

    def to_unit(self, value: float) -> float:
        if self.step is not None:
            k = round((float(value) - self.low) / self.step)
            return _index_to_unit(min(max(k, 0), self.n_values - 1), self.n_values)
        lo, hi, v = (math.log(self.low), math.log(self.high), math.log(value)) if self.log else (
            self.low, self.high, float(value))
        return min(max((v - lo) / (hi - lo), 0.0), 1.0)

    def from_unit(self, u: float) -> float:
        if self.step is not None:
            return self.values()[_unit_to_index(u, self.n_values)]
        u = min(max(float(u), 0.0), 1.0)
        if self.log:
            v = math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        else:
            v = self.low + u * (self.high - self.low)
        return min(max(_clean_float(v), self.low), self.high)

    def grid(self, n_points: int | None) -> list[float]:
        """Grid values: all values of a stepped parameter, else ``n_points`` evenly spaced (in log on log scale)."""
        if self.step is not None:
            return self.values()
        _require_grid_points(self.name, n_points)
        return [self.from_unit(u) for u in np.linspace(0.0, 1.0, n_points)]


@dataclass(frozen=True)
class IntParam:
    """An integer parameter with both ends included (``high`` is the largest value taken).

    ``interval=True`` marks one written ``int(interval(a, b))``: like a log-scale one, a grid sweep
    discretises it into ``grid_points`` values; otherwise (``range(...)``) a grid takes every value.
    """

    name: str
    low: int
    high: int
    log: bool = False
    step: int = 1
    interval: bool = False

    def __post_init__(self) -> None:
        for attr in ("low", "high", "step"):
            object.__setattr__(self, attr, _integer(self.name, attr, getattr(self, attr)))
        _check_bounds(self.name, self.low, self.high, self.log)
        if self.step < 1:
            raise ValueError(f"parameter '{self.name}': step={self.step} must be an integer >= 1")
        if self.log and self.step != 1:
            raise ValueError(f"parameter '{self.name}': log scale needs step=1, got step={self.step}")

    @property
    def n_values(self) -> int:
        return (self.high - self.low) // self.step + 1

    def values(self) -> list[int]:
        return list(range(self.low, self.high + 1, self.step))

    def check(self, value: Any) -> int:
        """``value`` as an int, or a ValueError naming the parameter when it is not one of ours."""
        v = _to_float(self.name, value)
        if not (math.isfinite(v) and v == round(v)):
            raise ValueError(f"parameter '{self.name}': {value!r} is not an integer")
        _check_inside(self.name, value, v, self.low, self.high)
        if (round(v) - self.low) % self.step:
            raise ValueError(f"parameter '{self.name}': {value!r} is not low + k*step "
                             f"(low={self.low}, step={self.step})")
        return int(round(v))

    def _edges(self) -> tuple[float, float]:
        if self.log:
            return math.log(self.low - 0.5), math.log(self.high + 0.5)
        return self.low - 0.5 * self.step, self.high + 0.5 * self.step

    def to_unit(self, value: int) -> float:
        lo, hi = self._edges()
        v = min(max(float(value), self.low), self.high)
        v = math.log(v) if self.log else v
        return (v - lo) / (hi - lo)

    def from_unit(self, u: float) -> int:
        lo, hi = self._edges()
        v = lo + min(max(float(u), 0.0), 1.0) * (hi - lo)
        v = math.exp(v) if self.log else v
        k = round((v - self.low) / self.step)
        return int(self.low + min(max(k, 0), self.n_values - 1) * self.step)

    def grid(self, n_points: int | None) -> list[int]:
        """Every value of a ``range``; for an interval (or log scale) up to ``n_points`` evenly spaced values."""
        if not (self.interval or self.log):
            return self.values()
        _require_grid_points(self.name, n_points)
        if self.log:
            raw = np.exp(np.linspace(math.log(self.low), math.log(self.high), n_points))
        else:
            raw = np.linspace(self.low, self.high, n_points)
        snapped = (self.low + np.round((raw - self.low) / self.step) * self.step).astype(int)
        return sorted({int(min(max(v, self.low), self.high)) for v in snapped})


@dataclass(frozen=True)
class CategoricalParam:
    """An unordered choice among ``choices`` (any values: strings, numbers, booleans, None)."""

    name: str
    choices: tuple[Any, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "choices", tuple(self.choices))
        if len(self.choices) == 0:
            raise ValueError(f"parameter '{self.name}': choice() is empty, expected at least one value")
        seen = [(type(c), c) for c in self.choices]
        if len(set(map(repr, seen))) != len(seen):
            raise ValueError(f"parameter '{self.name}': choices {list(self.choices)} contain duplicates")

    @property
    def n_values(self) -> int:
        return len(self.choices)

    def values(self) -> list[Any]:
        return list(self.choices)

    def index(self, value: Any) -> int:
        """Position of ``value``: an exact (type and value) match first, else equal string forms."""
        for i, c in enumerate(self.choices):
            if type(c) is type(value) and (c == value or c != c and value != value):
                return i
        for i, c in enumerate(self.choices):
            if str(c) == str(value):
                return i
        raise ValueError(f"parameter '{self.name}': {value!r} is not one of {list(self.choices)}")

    def check(self, value: Any) -> Any:
        """The choice ``value`` stands for, or a ValueError naming the parameter."""
        return self.choices[self.index(value)]

    def to_unit(self, value: Any) -> float:
        return _index_to_unit(self.index(value), self.n_values)

    def from_unit(self, u: float) -> Any:
        return self.choices[_unit_to_index(u, self.n_values)]

    def grid(self, n_points: int | None = None) -> list[Any]:
        return self.values()


Param = FloatParam | IntParam | CategoricalParam


def _check_bounds(name: str, low: float, high: float, log: bool) -> None:
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"parameter '{name}': bounds ({low}, {high}) must be finite; expected finite numbers")
    if low >= high:
        raise ValueError(f"parameter '{name}': interval low={low} must be < high={high}; expected interval(low, high) "
                         "with low < high")
    if log and low <= 0:
        raise ValueError(f"parameter '{name}': log scale needs bounds > 0, got low={low}; expected low > 0 with "
                         "tag(log, ...)")


def _number(name: str, attr: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"parameter '{name}': {attr}={value!r} must be a number; expected a number")
    return float(value)


def _integer(name: str, attr: str, value: Any) -> int:
    v = _number(name, attr, value)
    if not (math.isfinite(v) and v == round(v)):
        raise ValueError(f"parameter '{name}': {attr}={value!r} must be an integer; expected an integer")
    return int(round(v))


def _to_float(name: str, value: Any) -> float:
    """A told value as a float: numbers and numeric strings; booleans and anything else rejected."""
    try:
        if isinstance(value, (bool, np.bool_)):
            raise TypeError
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"parameter '{name}': {value!r} is not a number") from None


def _check_inside(name: str, raw: Any, v: float, low: float, high: float) -> None:
    tol = 1e-9 * (high - low)
    if not (low - tol <= v <= high + tol):
        raise ValueError(f"parameter '{name}': {raw!r} is outside [{low}, {high}]")


def _require_grid_points(name: str, n_points: int | None) -> None:
    if n_points is None:
        raise ValueError(
            f"parameter '{name}' is an interval: a grid sweep needs grid_points (e.g. grid_points=5) "
            "to discretise it")
    if n_points < 2:
        raise ValueError(f"grid_points={n_points} must be >= 2")


def _index_to_unit(i: int, n: int) -> float:
    return (i + 0.5) / n


def _unit_to_index(u: float, n: int) -> int:
    return int(min(max(math.floor(float(u) * n), 0), n - 1))


def _clean_float(x: float) -> float:
    """Trim binary noise (0.30000000000000004 -> 0.3) so grid values print as typed."""
    return float(f"{float(x):.12g}")
