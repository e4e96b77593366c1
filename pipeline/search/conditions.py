"""Conditions: when a parameter of a space is active.

A parameter with conditions is searched only where all of them hold for the values of other parameters (its
parents): ``model.channels`` only when ``model`` is ``cnn``, a third layer's width only when
``model.num_layers >= 3``. Written as text, in ``hydra.sweeper.conditions`` or inferred from config groups::

    model in [cnn, rnn]      model=cnn      model!=mlp      model.num_layers>=3      a>0.5 and b=relu

Values are read as YAML scalars (``3`` an int, ``relu`` a string), and compared with a parent's values as the
space holds them. This module is pure Python; ``space.SearchSpace`` decides activity with it.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

OPS: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge, "<=": operator.le, "!=": operator.ne, "==": operator.eq, "=": operator.eq,
    ">": operator.gt, "<": operator.lt,
}
_COMPARISON = re.compile(r"^\s*(?P<key>[A-Za-z_+][\w.+/-]*)\s*(?P<op>>=|<=|!=|==|=|>|<)\s*(?P<value>.+?)\s*$")
_MEMBERSHIP = re.compile(r"^\s*(?P<key>[A-Za-z_+][\w.+/-]*)\s+(?P<neg>not\s+)?in\s+\[(?P<values>.*)\]\s*$")
KEY = "hydra.sweeper.conditions"  # where users write them (the sweeper's option)
SYNTAX = "KEY in [a, b], KEY not in [a], KEY=v, KEY!=v, KEY>=n, KEY>n, KEY<=n or KEY<n (several joined by 'and')"


@dataclass(frozen=True)
class Condition:
    """``parent`` compared with ``values`` by ``op`` (``in`` and ``not in`` take several values)."""

    parent: str
    op: str
    values: tuple[Any, ...]

    def holds(self, value: Any) -> bool:
        """Whether the parent's ``value`` meets the condition (a value of another type never meets it)."""
        if self.op in ("in", "not in"):
            found = any(_same(value, v) for v in self.values)
            return found if self.op == "in" else not found
        if self.op in ("=", "==", "!="):
            return _same(value, self.values[0]) == (self.op != "!=")
        try:
            return bool(OPS[self.op](float(value), float(self.values[0])))
        except (TypeError, ValueError):
            return False

    def __str__(self) -> str:
        if self.op in ("in", "not in"):
            return f"{self.parent} {self.op} [{', '.join(_show(v) for v in self.values)}]"
        return f"{self.parent}{'=' if self.op == '==' else self.op}{_show(self.values[0])}"


def parse_conditions(key: str, text: str | Sequence[str]) -> tuple[Condition, ...]:
    """The conditions of parameter ``key``: one text (parts joined by ``and``) or a list of texts, all to hold.
    Raises ValueError naming ``key`` and the text it could not read."""
    texts = [text] if isinstance(text, str) else list(text)
    out = []
    for t in texts:
        if not isinstance(t, str):
            raise ValueError(f"{KEY}.{key}={t!r} is not a condition; expected {SYNTAX}")
        for part in re.split(r"\s+and\s+", t.strip()):
            out.append(_parse_one(key, part))
    if not out:
        raise ValueError(f"{KEY}.{key} is empty; expected {SYNTAX}")
    return tuple(out)


def _parse_one(key: str, text: str) -> Condition:
    m = _MEMBERSHIP.match(text)
    if m:
        values = tuple(_scalar(v) for v in m["values"].split(",") if v.strip())
        if not values:
            raise ValueError(f"{KEY}.{key}={text!r} names no value; expected {SYNTAX}")
        return Condition(m["key"], "not in" if m["neg"] else "in", values)
    m = _COMPARISON.match(text)
    if m:
        value = _scalar(m["value"])
        if m["op"] in ("<", "<=", ">", ">=") and not _is_number(value):
            raise ValueError(f"{KEY}.{key}={text!r} compares with {value!r}, not a number; expected a number")
        return Condition(m["key"], m["op"], (value,))
    raise ValueError(f"{KEY}.{key}={text!r} cannot be read; expected {SYNTAX}")


def check_conditions(conditions: Mapping[str, Sequence[Condition]], searched: Mapping[str, Sequence[Any] | None],
                     fixed: Mapping[str, Any], bounds: Mapping[str, tuple[float, float]]) -> dict[str, tuple]:
    """Check conditions against a space; return them without the ones a fixed parent always meets.

    ``searched``: each searched parameter's values (None for a continuous one, whose ``bounds`` are given).
    Raises ValueError for a condition on an unknown parameter, of an unknown parameter, a cycle, or a
    condition no value of its parent can meet.
    """
    out: dict[str, tuple] = {}
    for key, conds in conditions.items():
        if key not in searched:
            where = " (it is fixed)" if key in fixed else ""
            raise ValueError(f"{KEY}: {key!r} is not a searched parameter{where}; expected one of {sorted(searched)}")
        kept = []
        for c in conds:
            if c.parent == key:
                raise ValueError(f"{KEY}.{key}={str(c)!r} depends on itself; expected conditions on other "
                                 "parameters")
            if c.parent in fixed:
                if not c.holds(fixed[c.parent]):
                    raise ValueError(f"{KEY}.{key}={str(c)!r}: {key} is never searched: {c} never holds, {c.parent} "
                                     f"is fixed to {fixed[c.parent]!r}; expected a condition it can meet")
                continue
            if c.parent not in searched:
                raise ValueError(f"{KEY}.{key}={str(c)!r}: {c.parent!r} is not a parameter of the sweep; expected one "
                                 f"of {sorted([*searched, *fixed])}")
            values = searched[c.parent]
            if values is not None and not any(c.holds(v) for v in values):
                raise ValueError(f"{KEY}.{key}={str(c)!r}: {key} is never searched: {c} holds for no value of "
                                 f"{c.parent} ({', '.join(_show(v) for v in values)}); expected a condition some "
                                 "value meets")
            if values is None and not _meets_interval(c, *bounds[c.parent]):
                low, high = bounds[c.parent]
                raise ValueError(f"{KEY}.{key}={str(c)!r}: {key} is never searched: {c} holds nowhere in "
                                 f"{c.parent}'s range [{low:g}, {high:g}]; expected a condition some value meets")
            kept.append(c)
        if kept:
            out[key] = tuple(kept)
    order(out)  # raises on a cycle
    return out


def order(conditions: Mapping[str, Sequence[Condition]]) -> list[str]:
    """The conditional parameters, each after its parents; ValueError naming the cycle if there is one."""
    done: list[str] = []
    state: dict[str, int] = {}

    def visit(key: str, path: list[str]) -> None:
        if state.get(key) == 2:
            return
        if state.get(key) == 1:
            cycle = path[path.index(key):] + [key]
            raise ValueError(f"{KEY}: a cycle, {' -> '.join(cycle)}; expected conditions that do not depend on "
                             "the parameter they make active")
        state[key] = 1
        for c in conditions.get(key, ()):
            visit(c.parent, [*path, key])
        state[key] = 2
        if key in conditions:
            done.append(key)

    for key in conditions:
        visit(key, [])
    return done


def parents(conditions: Mapping[str, Sequence[Condition]]) -> set[str]:
    return {c.parent for conds in conditions.values() for c in conds}


def format_conditions(conditions: Mapping[str, Iterable[Condition]]) -> dict[str, str]:
    """The conditions as text (``parse_conditions`` reads them back): for tags, reports and messages."""
    return {k: " and ".join(str(c) for c in conds) for k, conds in conditions.items()}


def _meets_interval(c: Condition, low: float, high: float) -> bool:
    if c.op in ("in", "=", "=="):
        return any(_is_number(v) and low <= float(v) <= high for v in c.values)
    if c.op in ("!=", "not in"):
        return True
    v = float(c.values[0])
    return {">=": high >= v, ">": high > v, "<=": low <= v, "<": low < v}[c.op]


def _same(a: Any, b: Any) -> bool:
    if _is_number(a) and _is_number(b):
        return math.isclose(float(a), float(b), rel_tol=1e-12, abs_tol=1e-15)
    return str(a) == str(b)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _scalar(text: str) -> Any:
    text = text.strip()
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return value if isinstance(value, (str, int, float, bool)) else text


def _show(v: Any) -> str:
    return str(v).lower() if isinstance(v, bool) else str(v)
