"""An ablation path from the default configuration to the best one: which change bought how much.

Greedy forward ablation (Fawcett & Hoos 2016, "Analysing differences between algorithm configurations through
ablation", J. Heuristics 22), with the surrogate in place of new runs as in Biedenkapp et al. 2017 ("Efficient
parameter importance analysis via ablation with surrogates", AAAI) and DeepCAVE's ablation paths: start at the
default; at each step change the one parameter, among those where the current configuration still differs from the
best, whose change gives the best predicted objective; stop at the best configuration.

Conditions: only parameters active in both configurations are compared. Changing a parent that switches a family
activates its children at once, with the best's values, in the same step (they are listed with it); parameters that
become inactive vanish (listed as ``dropped``). Each step's objective is *measured* when a complete trial ran exactly
that configuration (its value and trial number), otherwise *predicted* (the surrogate's mean and sd): the first step
is the default, the last the best trial, measured.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.explain.surrogate import Surrogate, encode_configs
from pipeline.search.space import SearchSpace, params_equal

MEASURED, PREDICTED = "measured", "predicted"


@dataclass(frozen=True)
class AblationStep:
    """One step of the path. ``parameters``: what changed (the parameter chosen first, then the children it
    activated; empty at the default), ``from_values`` / ``to_values`` their values before (None where inactive) and
    after; ``dropped``: parameters the step made inactive. ``value``: the objective at the configuration reached,
    ``sd`` its surrogate sd (None when measured), ``source`` measured | predicted, ``trial`` the trial that measured
    it; ``gain``: the improvement over the previous step in the objective's direction (positive is better, 0 at the
    default). ``config``: the active configuration reached."""

    step: int
    parameters: tuple[str, ...]
    from_values: tuple[Any, ...]
    to_values: tuple[Any, ...]
    dropped: tuple[str, ...]
    value: float
    sd: float | None
    source: str
    trial: int | None
    gain: float
    config: dict[str, Any]

    @property
    def label(self) -> str:
        """``default``, or what changed: ``lr: 0.1 -> 0.003``, ``model: mlp -> cnn (+ cnn.kernel=5)``."""
        if not self.parameters:
            return "default"
        head = f"{self.parameters[0]}: {_show(self.from_values[0])} -> {_show(self.to_values[0])}"
        more = [f"{n}={_show(v)}" for n, v in zip(self.parameters[1:], self.to_values[1:])]
        return head + (f" (+ {', '.join(more)})" if more else "")

    def row(self) -> dict[str, Any]:
        """A flat dict for a CSV row: ``parameter`` the one chosen (``default`` at step 0), ``activated`` the children
        it brought, ``from`` / ``to`` the values of both (``;``-separated, empty where inactive)."""
        return {"step": self.step, "parameter": self.parameters[0] if self.parameters else "default",
                "activated": ";".join(self.parameters[1:]), "from": ";".join(_show(v) for v in self.from_values),
                "to": ";".join(_show(v) for v in self.to_values), "dropped": ";".join(self.dropped),
                "value": self.value, "sd": self.sd, "source": self.source, "trial": self.trial, "gain": self.gain,
                "label": self.label}


def ablation_path(sur: Surrogate, default: Mapping[str, Any], best: Mapping[str, Any],
                  trials: Sequence[tuple[int, Mapping[str, Any], float]]) -> list[AblationStep]:
    """The greedy path from ``default`` to ``best`` (module docstring).

    ``default``: a value for every parameter active there (others, and keys the space does not search, ignored; a
    value outside the space is clipped into the encoding for the surrogate but reported as given). ``best``: the best
    trial's parameters. ``trials``: ``(number, params, value)`` of complete trials, best first: the first with exactly
    a step's configuration measures it. Raises ValueError naming a parameter active at a step with no value.
    """
    space = sur.space
    target = _active(space, best)
    given = {k: v for k, v in default.items() if k in space.names}
    current = _active(space, given)
    full = {**given, **target}  # the values a child can take when a step activates it: the best's, else the default's
    steps = [_step(sur, 0, current, (), (), (), (), trials, None)]
    for _ in range(2 * space.dim + 1):  # each step settles a parameter; the bound only guards against a bug
        differing = _differing(space, current, target)
        if not differing:
            return steps
        options = [_change(space, current, name, target, full) for name in differing]
        mean, _ = sur.predict(encode_configs(space, [o[0] for o in options]))
        pick = int(np.argmin(sur.sign * mean))
        nxt, changed = options[pick]
        dropped = tuple(n for n in current if n not in nxt)
        steps.append(_step(sur, len(steps), nxt, changed, tuple(current.get(n) for n in changed),
                           tuple(nxt[n] for n in changed), dropped, trials, steps[-1].value))
        current = nxt
    raise RuntimeError(f"the ablation path from {dict(default)} to {dict(best)} did not reach the best")


def _active(space: SearchSpace, config: Mapping[str, Any]) -> dict[str, Any]:
    """``config``'s values of the parameters active there, in the space's order; ValueError for a missing one."""
    active = space.active(config)
    missing = [n for n in active if n not in config]
    if missing:
        raise ValueError(f"parameters {missing} are active at {dict(config)} but have no value there")
    return {n: config[n] for n in active}


def _differing(space: SearchSpace, current: Mapping[str, Any], target: Mapping[str, Any]) -> list[str]:
    """Parameters active in both whose values differ, in the space's order."""
    return [n for n in space.names if n in current and n in target and not params_equal(current, target, [n])]


def _change(space: SearchSpace, current: Mapping[str, Any], name: str, target: Mapping[str, Any],
            full: Mapping[str, Any]) -> tuple[dict[str, Any], tuple[str, ...]]:
    """``current`` with ``name`` set to the target's value, the children it activates set too (to the target's
    values, else the default's), and what it deactivates gone; returns it and the changed names (``name`` first)."""
    merged = {**full, **current, name: target[name]}
    nxt = _active(space, merged)
    born = tuple(n for n in nxt if n not in current)
    nxt.update({n: target.get(n, full.get(n)) for n in born})
    return nxt, (name, *born)


def _step(sur: Surrogate, k: int, config: dict[str, Any], changed: tuple[str, ...], before: tuple[Any, ...],
          after: tuple[Any, ...], dropped: tuple[str, ...], trials: Sequence[tuple[int, Mapping[str, Any], float]],
          previous: float | None) -> AblationStep:
    """The step reaching ``config``: measured by the first trial that ran it, else predicted."""
    found = next(((number, value) for number, params, value in trials if _same(sur.space, params, config)), None)
    if found is not None:
        trial, value, sd, source = found[0], float(found[1]), None, MEASURED
    else:
        mean, std = sur.predict(encode_configs(sur.space, [config]))
        trial, value, sd, source = None, float(mean[0]), float(std[0]), PREDICTED
    gain = 0.0 if previous is None else sur.sign * (previous - value)
    return AblationStep(k, changed, before, after, dropped, value, sd, source, trial, gain, dict(config))


def _same(space: SearchSpace, params: Mapping[str, Any], config: Mapping[str, Any]) -> bool:
    """Whether a trial's ``params`` are exactly the active configuration ``config``."""
    try:
        active = space.active(params)
    except (TypeError, ValueError):
        return False
    return set(active) == set(config) and all(n in params for n in active) and params_equal(params, config, active)


def _show(v: Any) -> str:
    return "" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v)
