"""Search spaces: float, int and categorical parameters with a shared unit-cube encoding.

Every optimizer works in the unit cube ``[0, 1]^d`` with one column per parameter:

* float: affine map of the value (of its log on log scale); a stepped float's ``n`` values own
  ``n`` equal cells, like a categorical's;
* int: the interval ``[low - step/2, high + step/2]`` mapped onto ``[0, 1]``, so every value owns a
  cell of equal width; on log scale ``[log(low - 1/2), log(high + 1/2)]`` is mapped instead and
  ``k`` owns ``[log(k - 1/2), log(k + 1/2)]`` (cells shrink as ``k`` grows: log-uniform sampling);
* categorical: choice ``i`` of ``k`` owns the cell ``[i/k, (i+1)/k)``; its centre is ``(i + 0.5)/k``.

Encoding clamps to the cube; decoding rounds to the nearest representable value (continuous
floats to 12 significant digits, so grid values print as typed), so ``decode(encode(p)) == p``.
This module is pure numpy and knows nothing of Hydra's runtime; only ``from_grammar``
uses Hydra's override *parser* to read the sweep grammar users already know.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipeline.search.params import CategoricalParam, FloatParam, IntParam, Param

__all__ = ["CategoricalParam", "FloatParam", "IntParam", "Param", "SearchSpace", "params_equal"]


@dataclass(frozen=True)
class SearchSpace:
    """An ordered set of parameters plus fixed values that every proposal carries unchanged."""

    params: tuple[Param, ...]
    fixed: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", tuple(self.params))
        object.__setattr__(self, "fixed", dict(self.fixed))
        names = [p.name for p in self.params]
        dup = sorted({n for n in names if names.count(n) > 1} | (set(names) & set(self.fixed)))
        if dup:
            raise ValueError(f"parameters defined twice: {dup}")

    @classmethod
    def from_grammar(cls, grammar: Mapping[str, Any]) -> SearchSpace:
        """Build a space from ``{"key": "<Hydra sweep grammar>"}``; plain values become fixed."""
        from pipeline.search.grammar import parse_param

        params, fixed = [], {}
        for name, expr in grammar.items():
            parsed = parse_param(name, expr)
            if isinstance(parsed, (FloatParam, IntParam, CategoricalParam)):
                params.append(parsed)
            else:
                fixed[name] = parsed
        return cls(tuple(params), fixed)

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.params]

    @property
    def dim(self) -> int:
        return len(self.params)

    def __len__(self) -> int:
        return len(self.params)

    def __getitem__(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    @property
    def is_categorical(self) -> np.ndarray:
        """Boolean mask ``(d,)`` of unordered (categorical) columns."""
        return np.array([isinstance(p, CategoricalParam) for p in self.params], dtype=bool)

    @property
    def n_values(self) -> np.ndarray:
        """Distinct values per column ``(d,)``; 0 marks a continuous column."""
        return np.array([p.n_values for p in self.params], dtype=int)

    def cardinality(self) -> float:
        """Number of distinct points, ``inf`` when any parameter is continuous."""
        n = self.n_values
        return math.inf if (n == 0).any() else float(np.prod(n.astype(float)))

    def encode(self, points: Iterable[Mapping[str, Any]]) -> np.ndarray:
        """Map parameter dicts to an ``(n, d)`` float64 array in the unit cube (fixed keys ignored)."""
        rows = [[p.to_unit(point[p.name]) for p in self.params] for point in points]
        return np.asarray(rows, dtype=np.float64).reshape(len(rows), self.dim)

    def decode(self, X: np.ndarray) -> list[dict[str, Any]]:
        """Map an ``(n, d)`` array of unit-cube points to parameter dicts (fixed values included)."""
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        if X.ndim != 2 or X.shape[1] != self.dim:
            raise ValueError(f"expected points with {self.dim} columns, got shape {X.shape}")
        if not np.isfinite(X).all():
            raise ValueError("unit-cube points must be finite (got NaN or inf)")
        return [{**self.fixed, **{p.name: p.from_unit(u) for p, u in zip(self.params, row, strict=True)}} for row in X]

    def snap(self, X: np.ndarray) -> np.ndarray:
        """Round unit-cube points to the encodings of the values they decode to."""
        return self.encode(self.decode(X)) if len(np.atleast_2d(X)) else np.atleast_2d(X)

    def validate(self, point: Mapping[str, Any]) -> dict[str, Any]:
        """Check that ``point`` holds a representable value for every parameter; return it cleaned.

        Raises ValueError naming the parameter for a missing, out-of-bounds or unknown value
        (strings that parse as numbers are accepted, as read back from a tracking server).
        """
        missing = [n for n in self.names if n not in point]
        if missing:
            raise ValueError(f"point {dict(point)} lacks parameters {missing}")
        checked = {p.name: p.check(point[p.name]) for p in self.params}
        return self.decode(self.encode([checked]))[0] | {k: v for k, v in point.items() if k not in self.names}

    def to_grammar(self) -> dict[str, str]:
        """The space written back in Hydra's sweep grammar (for tags and reports)."""
        from pipeline.search.grammar import format_param, format_value

        return {**{p.name: format_param(p) for p in self.params},
                **{k: format_value(v) for k, v in self.fixed.items()}}


def params_equal(a: Mapping[str, Any], b: Mapping[str, Any], names: Sequence[str]) -> bool:
    """Whether two proposals agree on ``names`` (floats compared to 12 significant digits)."""
    for n in names:
        x, y = a.get(n), b.get(n)
        if isinstance(x, float) or isinstance(y, float):
            try:
                if not math.isclose(float(x), float(y), rel_tol=1e-12, abs_tol=1e-15):
                    return False
            except (TypeError, ValueError):
                return False
        elif x != y:
            return False
    return True
