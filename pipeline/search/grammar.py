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

import math
from typing import Any

from pipeline.search.space import CategoricalParam, FloatParam, IntParam, Param


def parse_param(name: str, expr: Any) -> Param | Any:
    """Parse one ``name=expr`` sweep expression into a parameter (or return a fixed value)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep
    from hydra.errors import HydraException

    if not isinstance(expr, str):
        return expr
    try:
        override = OverridesParser.create().parse_override(f"{name}={expr}")
    except HydraException as e:
        raise ValueError(f"parameter '{name}': cannot parse {expr!r} as Hydra sweep grammar: {e}") from None
    if not override.is_sweep_override():
        return override.value()
    value = override.value()
    if isinstance(value, ChoiceSweep):
        return _choice(name, value.list)
    if isinstance(value, RangeSweep):
        return _range(name, value)
    if isinstance(value, IntervalSweep):
        return _interval(name, value)
    raise ValueError(f"parameter '{name}': unsupported sweep {expr!r}; expected choice, range or interval")


def _choice(name: str, items: list[Any]) -> CategoricalParam:
    choices: list[Any] = []
    for item in items:
        if isinstance(item, (list, dict)):
            raise ValueError(f"parameter '{name}': choice values must be scalars, got {item!r}")
        if item not in choices:
            choices.append(item)
    return CategoricalParam(name, tuple(choices))


def _range(name: str, value: Any) -> Param:
    start, stop, step = value.start, value.stop, value.step
    if step == 0:
        raise ValueError(f"parameter '{name}': range step must not be 0")
    if value.shuffle or step < 0:
        return CategoricalParam(name, tuple(_range_values(start, stop, step)))
    n = math.ceil((stop - start) / step)
    if n < 1:
        raise ValueError(f"parameter '{name}': range({start}, {stop}, {step}) is empty; expected start < stop")
    if n == 1:
        return CategoricalParam(name, (start,))
    if all(isinstance(v, int) for v in (start, stop, step)):
        return IntParam(name, int(start), int(start + (n - 1) * step), step=int(step))
    return FloatParam(name, float(start), float(start + (n - 1) * step), step=float(step))


def _range_values(start: float, stop: float, step: float) -> list[Any]:
    n = max(0, math.ceil((stop - start) / step))
    if n == 0:
        raise ValueError(f"range({start}, {stop}, {step}) is empty")
    return [start + i * step for i in range(n)]


def _interval(name: str, value: Any) -> Param:
    log = "log" in value.tags
    unknown = set(value.tags) - {"log"}
    if unknown:
        raise ValueError(f"parameter '{name}': unknown tags {sorted(unknown)}; only 'log' is understood")
    start, end = value.start, value.end
    if isinstance(start, int) and isinstance(end, int):
        return IntParam(name, start, end, log=log)
    return FloatParam(name, float(start), float(end), log=log)


def format_param(p: Param) -> str:
    """The inverse of ``parse_param``: the parameter written in sweep grammar."""
    if isinstance(p, CategoricalParam):
        return "choice(" + ",".join(format_value(c) for c in p.choices) + ")"
    if isinstance(p, IntParam):
        if p.step != 1:
            return f"range({p.low},{p.high + p.step},{p.step})"
        inner = f"int(interval({p.low},{p.high}))"
    elif p.step is not None:
        return f"range({p.low!r},{p.high + p.step / 2!r},{p.step!r})"
    else:
        inner = f"interval({p.low!r},{p.high!r})"
    return f"tag(log,{inner})" if p.log else inner


_SPECIAL = set(" ,()[]{}=:'\"\\$")


def format_value(v: Any) -> str:
    """A Python value as a Hydra override value (strings quoted only when they need it)."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, (int,)):
        return str(v)
    s = str(v)
    if s == "" or any(c in _SPECIAL for c in s) or s.lower() in {"null", "true", "false"} or _looks_numeric(s):
        return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return s


def _looks_numeric(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True
