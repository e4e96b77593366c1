"""Search spaces: float, int and categorical parameters with a shared unit-cube encoding.

Every optimizer works in the unit cube ``[0, 1]^d`` with one column per parameter:

* float: affine map of the value (of its log on log scale); a stepped float's ``n`` values own
  ``n`` equal cells, like a categorical's;
* int: the interval ``[low - step/2, high + step/2]`` mapped onto ``[0, 1]``, so every value owns a
  cell of equal width; on log scale ``[log(low - 1/2), log(high + 1/2)]`` is mapped instead and
  ``k`` owns ``[log(k - 1/2), log(k + 1/2)]`` (cells shrink as ``k`` grows: log-uniform sampling);
* categorical: choice ``i`` of ``k`` owns the cell ``[i/k, (i+1)/k)``; its centre is ``(i + 0.5)/k``;
* a parameter inactive at a point (its ``conditions`` do not hold, ``pipeline.search.conditions``) is encoded
  ``INACTIVE``, outside the cube: points that differ only in inactive values are one point, a categorical
  column's overlap distance tells inactive from every value, and an ordered column puts it at least the
  column's range away from every value (in the spirit of Swersky et al.'s arc kernel, 2013). A decoded point
  carries its active parameters only.

Encoding clamps to the cube; decoding rounds to the nearest representable value (continuous
floats to 12 significant digits, so grid values print as typed), so ``decode(encode(p)) == p``.
This module is pure numpy and knows nothing of Hydra's runtime; only ``from_grammar``
uses Hydra's override *parser* to read the sweep grammar users already know.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipeline.search.conditions import Condition, check_conditions, format_conditions, order, parse_conditions
from pipeline.search.params import CategoricalParam, FloatParam, IntParam, Param

__all__ = ["INACTIVE", "CategoricalParam", "FloatParam", "IntParam", "Param", "SearchSpace", "params_equal"]

INACTIVE = -1.0  # the encoding of a parameter that is not active at a point
ENUMERATE_MAX = 200_000  # a finite conditional space is counted point by point up to this many combinations


@dataclass(frozen=True)
class SearchSpace:
    """An ordered set of parameters plus fixed values that every proposal carries unchanged; ``conditions``
    make some parameters active only where they hold (``pipeline.search.conditions``)."""

    params: tuple[Param, ...]
    fixed: Mapping[str, Any] = field(default_factory=dict)
    conditions: Mapping[str, tuple[Condition, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", tuple(self.params))
        object.__setattr__(self, "fixed", dict(self.fixed))
        names = [p.name for p in self.params]
        dup = sorted({n for n in names if names.count(n) > 1} | (set(names) & set(self.fixed)))
        if dup:
            raise ValueError(f"parameters defined twice: {dup}")
        if self.conditions:
            searched = {p.name: (p.values() if p.n_values else None) for p in self.params}
            bounds = {p.name: (p.low, p.high) for p in self.params if not p.n_values}
            object.__setattr__(self, "conditions", check_conditions(self.conditions, searched, self.fixed, bounds))
        object.__setattr__(self, "_order", order(self.conditions))

    @classmethod
    def from_grammar(cls, grammar: Mapping[str, Any], conditions: Mapping[str, Any] | None = None) -> SearchSpace:
        """Build a space from ``{"key": "<Hydra sweep grammar>"}``; plain values become fixed. ``conditions``:
        ``{"key": "<condition>"}`` (``pipeline.search.conditions``), or parsed ``Condition`` tuples."""
        from pipeline.search.grammar import parse_param

        params, fixed = [], {}
        for name, expr in grammar.items():
            parsed = parse_param(name, expr)
            if isinstance(parsed, (FloatParam, IntParam, CategoricalParam)):
                params.append(parsed)
            else:
                fixed[name] = parsed
        parsed_conditions = {k: v if isinstance(v, tuple) and all(isinstance(c, Condition) for c in v)
                             else parse_conditions(k, v) for k, v in (conditions or {}).items()}
        return cls(tuple(params), fixed, parsed_conditions)

    def conditions_text(self) -> dict[str, str]:
        """The conditions as text (``from_grammar`` reads them back)."""
        return format_conditions(self.conditions)

    def active(self, values: Mapping[str, Any]) -> list[str]:
        """The names of the parameters active at ``values`` (a point; fixed values count as given), in order."""
        if not self.conditions:
            return self.names
        values = {**self.fixed, **values}
        inactive: set[str] = set()
        for key in self._order:  # parents before children
            if any(c.parent in inactive or c.parent not in values or not c.holds(values[c.parent])
                   for c in self.conditions[key]):
                inactive.add(key)
        return [n for n in self.names if n not in inactive]

    def activate(self, point: Mapping[str, Any], name: str) -> dict[str, Any]:
        """``point`` with its parents of ``name`` (and theirs) moved, where needed, to their first value that makes
        ``name`` active: where a parameter inactive at ``point`` can be seen at work."""
        out = dict(point)
        for c in self.conditions.get(name, ()):
            out = self.activate(out, c.parent)
            if c.parent in self.names and (c.parent not in out or not c.holds(out[c.parent])):
                param = self[c.parent]
                tries = param.values() if param.n_values else [param.low, param.high, *c.values]
                inside = [v for v in tries if param.n_values or param.low <= float(v) <= param.high]
                out[c.parent] = next(v for v in inside if c.holds(v))
        return out

    def inactive_mask(self, X: np.ndarray) -> np.ndarray:
        """Boolean ``(n, d)``: which coordinates of unit-cube points ``X`` are inactive there."""
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        mask = np.zeros(X.shape, dtype=bool)
        if not self.conditions:
            return mask
        index = {p.name: j for j, p in enumerate(self.params)}
        parents = {c.parent for conds in self.conditions.values() for c in conds}
        for i, row in enumerate(X):
            values = {n: self.params[index[n]].from_unit(row[index[n]]) for n in parents if row[index[n]] >= 0}
            active = set(self.active(values))
            mask[i] = [p.name not in active for p in self.params]
        return mask

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
        """Number of distinct points (combinations of active values; for a conditional space of more than
        ``ENUMERATE_MAX`` combinations, their number, an upper bound), ``inf`` when any parameter is continuous."""
        n = self.n_values
        if (n == 0).any():
            return math.inf
        product = float(np.prod(n.astype(float)))
        if not self.conditions or product > ENUMERATE_MAX:  # a large conditional space: the product, an upper bound
            return product
        return float(len(self.enumerate()))

    @functools.cached_property
    def _enumerated(self) -> np.ndarray:
        product = math.prod(p.n_values for p in self.params)
        if product > ENUMERATE_MAX:
            raise ValueError(f"a conditional space of {product} combinations is too large to enumerate")
        rows = self.snap(np.array(list(itertools.product(*[[p.to_unit(v) for v in p.values()]
                                                            for p in self.params]))))
        _, first = np.unique(np.round(rows, 12), axis=0, return_index=True)
        return rows[np.sort(first)]

    def enumerate(self) -> np.ndarray:
        """Every distinct point of a finite space, encoded ``(n, d)``, in grid order (the last parameter varying
        fastest) with points differing only in inactive values given once."""
        return self._enumerated

    def encode(self, points: Iterable[Mapping[str, Any]]) -> np.ndarray:
        """Map parameter dicts to an ``(n, d)`` float64 array in the unit cube (fixed keys ignored; inactive
        parameters, given or not, ``INACTIVE``)."""
        if not self.conditions:
            rows = [[p.to_unit(point[p.name]) for p in self.params] for point in points]
        else:
            rows = []
            for point in points:
                active = set(self.active(point))
                rows.append([p.to_unit(point[p.name]) if p.name in active else INACTIVE for p in self.params])
        return np.asarray(rows, dtype=np.float64).reshape(len(rows), self.dim)

    def decode(self, X: np.ndarray) -> list[dict[str, Any]]:
        """Map an ``(n, d)`` array of unit-cube points to parameter dicts (fixed values included; a parameter
        inactive at a point is left out of it)."""
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        if X.ndim != 2 or X.shape[1] != self.dim:
            raise ValueError(f"expected points with {self.dim} columns, got shape {X.shape}")
        if not np.isfinite(X).all():
            raise ValueError("unit-cube points must be finite (got NaN or inf)")
        out = [{**self.fixed, **{p.name: p.from_unit(u) for p, u in zip(self.params, row, strict=True)}} for row in X]
        if self.conditions:
            names = set(self.names)
            out = [{k: v for k, v in point.items() if k not in names or k in active}
                   for point in out for active in [set(self.active(point))]]
        return out

    def snap(self, X: np.ndarray) -> np.ndarray:
        """Round unit-cube points to the encodings of the values they decode to."""
        return self.encode(self.decode(X)) if len(np.atleast_2d(X)) else np.atleast_2d(X)

    def validate(self, point: Mapping[str, Any]) -> dict[str, Any]:
        """Check that ``point`` holds a representable value for every parameter; return it cleaned.

        Raises ValueError naming the parameter for a missing, out-of-bounds or unknown value
        (strings that parse as numbers are accepted, as read back from a tracking server).
        """
        active = self.active(point)  # a parent's bad value surfaces below, where it is checked
        missing = [n for n in active if n not in point]
        if missing:
            raise ValueError(f"point {dict(point)} lacks parameters {missing}")
        checked = {p.name: p.check(point[p.name]) for p in self.params if p.name in active}
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
