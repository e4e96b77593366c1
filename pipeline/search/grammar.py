"""Read and write parameters in Hydra's override sweep grammar, parsed by Hydra's own parser.

===================================  =====================================================
grammar                              parameter
===================================  =====================================================
``choice(a,b)`` / ``a,b``            categorical (also config-group choices: ``model=mlp,cnn``)
``range(start, stop[, step])``       int (float when any bound is a float), ``stop`` excluded
``interval(a, b)``                   float on ``[a, b]``
``int(interval(a, b))``              int, both ends included
``tag(log, interval(a, b))``         float, log scale
``tag(log, int(interval(a, b)))``    int, log scale
anything else                        a fixed value
===================================  =====================================================
"""

from __future__ import annotations

import numbers
import re
from typing import Any

from pipeline.search.params import CategoricalParam, FloatParam, IntParam, Param


def parse_param(name: str, expr: Any) -> Param | Any:
    """Parse one ``name=expr`` sweep expression into a parameter (or return a fixed value).

    Raises ValueError naming the parameter for unparseable text, empty choices and ranges,
    ``low >= high``, log scale with a bound <= 0 and tags other than ``log`` on an interval.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep
    from hydra.errors import HydraException

    if not isinstance(expr, str):
        return expr
    try:
        override = OverridesParser.create().parse_override(f"{name}={expr}")
    except HydraException as e:
        raise ValueError(f"parameter '{name}': cannot parse {expr!r} as Hydra sweep grammar: {e}; expected "
                         "choice(...), range(...), interval(...) or a comma-separated list") from None
    value = override.value()
    if not override.is_sweep_override():
        return value
    if isinstance(value, ChoiceSweep):
        _check_tags(name, value.tags, ())
        return _choice(name, value.list)
    if isinstance(value, RangeSweep):
        _check_tags(name, value.tags, ())
        return _range(name, value.start, value.stop, value.step)
    if isinstance(value, IntervalSweep):
        _check_tags(name, value.tags, ("log",))
        return _interval(name, value.start, value.end, "log" in value.tags)
    raise ValueError(f"parameter '{name}': unsupported sweep {expr!r}; expected choice, range or interval")


def _check_tags(name: str, tags: set[str], allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(tags) - set(allowed))
    if unknown:
        where = "only 'log', on interval(...)," if not allowed else f"only {list(allowed)}"
        raise ValueError(f"parameter '{name}': unknown tags {unknown}; {where} is understood here")


def _choice(name: str, items: list[Any]) -> CategoricalParam:
    from hydra.core.override_parser.types import QuotedString

    choices: list[Any] = []
    for item in items:
        item = item.text if isinstance(item, QuotedString) else item  # the comma form keeps quotes
        if not isinstance(item, (str, int, float, bool, type(None))):
            raise ValueError(f"parameter '{name}': choice values must be scalars, got {item!r}")
        if not any(type(c) is type(item) and (c == item or c != c and item != item) for c in choices):
            choices.append(item)
    return CategoricalParam(name, tuple(choices))


def _range(name: str, start: float, stop: float, step: float) -> Param:
    """Hydra's ``range``: ``start, start + step, ...`` while short of ``stop`` (either direction)."""
    from hydra.core.override_parser.types import FloatRange

    if step == 0:
        raise ValueError(f"parameter '{name}': range({start}, {stop}, {step}) has step 0")
    if all(isinstance(v, int) for v in (start, stop, step)):
        values: list[Any] = list(range(start, stop, step))
    else:  # Hydra's own iterator, so the number of values matches its basic sweeper exactly
        values = [float(v) for v in FloatRange(start, stop, step)]
    if not values:
        raise ValueError(f"parameter '{name}': range({start}, {stop}, {step}) is empty; "
                         "expected start < stop for a positive step")
    low, high, step = min(values), max(values), abs(step)
    if len(values) == 1:
        return CategoricalParam(name, (values[0],))
    if isinstance(low, int):
        return IntParam(name, low, high, step=step)
    return FloatParam(name, low, float(f"{low + (len(values) - 1) * step:.12g}"), step=step)


def _interval(name: str, start: float, end: float, log: bool) -> Param:
    if isinstance(start, int) and isinstance(end, int):  # int(interval(...)) casts both ends
        return IntParam(name, start, end, log=log, interval=True)
    return FloatParam(name, float(start), float(end), log=log)


def format_param(p: Param) -> str:
    """The inverse of ``parse_param``: the parameter written in sweep grammar."""
    if isinstance(p, CategoricalParam):
        items = ",".join(format_value(c) for c in p.choices)  # the comma form also allows null
        return items if len(p.choices) > 1 else f"choice({items})"
    if isinstance(p, IntParam):
        if not (p.interval or p.log):
            return f"range({p.low},{p.high + p.step},{p.step})"
        inner = f"int(interval({p.low},{p.high}))"
    elif p.step is not None:
        return f"range({p.low!r},{p.high + p.step / 2!r},{p.step!r})"
    else:
        inner = f"interval({p.low!r},{p.high!r})"
    return f"tag(log,{inner})" if p.log else inner


_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_\-+./@:]*")


def format_value(v: Any) -> str:
    """A Python value as a Hydra override value (strings quoted unless plainly safe)."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, numbers.Integral):
        return str(int(v))
    if isinstance(v, numbers.Real):
        return repr(float(v))
    s = str(v)
    if _PLAIN.fullmatch(s) and s.lower() not in {"null", "true", "false", "inf", "nan"}:
        return s
    # Hydra keeps backslashes in quoted strings except those (doubled) before a quote or the end.
    return "'" + re.sub(r"(\\*)('|$)", lambda m: m.group(1) * 2 + ("\\'" if m.group(2) else ""), s) + "'"
