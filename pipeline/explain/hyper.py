"""How each hyperparameter acted in a sweep, per objective: importance, partial dependence, interactions, ablation.

For each objective (the one value, or each of several), from the sweep's complete feasible trials:

* importance: fANOVA main effects (``pipeline.results.insights.importance``), a conditional parameter's measured
  where it is active, computed on this objective's values;
* a surrogate: the GP ``bayes`` fits (``surrogate.fit_surrogate``), on the standardised values;
* partial dependence of every parameter with its credible band, and of the ``TOP_PAIRS`` pairs with the strongest
  interaction among the most important parameters, with their ``H^2`` (``effects``);
* an ablation path from the default configuration to this objective's best trial (``ablation``).

Below ``importance.min_trials(d)`` complete trials nothing is computed (the importance module's threshold: fewer
trials rank parameters by chance), nor for a flat objective; ``notes`` say why.

Cost, per objective, on one core with the defaults (128 background configurations, 20-point grids, 6 candidate
pairs on 10 x 10 grids), measured on a shared 2-core machine: 0.7-1.5 s for 40 trials of 8 parameters, 1.1-1.7 s for
200, 1.3-2.2 s with conditions; mostly the pairs' averages, the GP fit and the forest. Torch runs on one thread here
(``limited_threads``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipeline import objective
from pipeline.explain.ablation import AblationStep, ablation_path
from pipeline.explain.effects import (
    N_GRID,
    N_PAIR_GRID,
    TOP_PAIRS,
    Dependence,
    PairDependence,
    pair_dependence,
    partial_dependence,
    top_pairs,
)
from pipeline.explain.surrogate import Surrogate, background, encode_configs, fit_surrogate
from pipeline.results.insights.history import SweepHistory
from pipeline.results.insights.importance import (
    N_TREES,
    Importance,
    encode,
    fanova_importance,
    min_trials,
    where_active,
)
from pipeline.search.bayes import limited_threads
from pipeline.search.space import SearchSpace
from pipeline.tracking.names import TrialState

N_BACKGROUND = 128   # background configurations partial dependence averages over (a power of two: a balanced Sobol set)
PAIR_CANDIDATES = 6  # pairs among the most important parameters whose interaction is measured; TOP_PAIRS are kept
Trial = tuple[int, dict[str, Any], float]  # (trial number, active parameters, objective value)


@dataclass
class HyperExplanation:
    """How the hyperparameters acted on one objective (``label``, ``direction``).

    ``dependences``: one per parameter, most important first; ``pairs``: the top pairs, strongest interaction first;
    ``ablation``: the path from the default to the best trial (None without a default configuration); ``trials``:
    ``(number, params, value)`` of the complete trials explained, best first; ``notes``: what could not be computed,
    and why.
    """

    label: str
    direction: str
    method: str
    n_trials: int
    importance: Importance | None = None
    dependences: list[Dependence] = field(default_factory=list)
    pairs: list[PairDependence] = field(default_factory=list)
    ablation: list[AblationStep] | None = None
    notes: list[str] = field(default_factory=list)
    trials: list[Trial] = field(default_factory=list)

    def dependence(self, name: str) -> Dependence:
        return next(d for d in self.dependences if d.name == name)

    def as_json(self) -> dict[str, Any]:
        """Everything as plain JSON types (what ``explain/hyper_<objective>.json`` holds)."""
        return _plain({
            "label": self.label, "direction": self.direction, "method": self.method, "n_trials": self.n_trials,
            "notes": self.notes, "importance": self.importance.as_json() if self.importance else None,
            "dependence": [{"parameter": d.name, "log": d.log, "categorical": d.categorical,
                            "n_background": d.n_background, "note": d.note,
                            "points": [{k: r[k] for k in ("value", "mean", "sd", "lower", "upper")} for r in d.rows()]}
                           for d in self.dependences],
            "pairs": [{"a": p.a, "b": p.b, "h2": p.h2, "interaction": p.interaction, "n_background": p.n_background,
                       "values_a": list(p.values_a), "values_b": list(p.values_b), "mean": p.mean.tolist(),
                       "sd": p.sd.tolist()} for p in self.pairs],
            "ablation": None if self.ablation is None else [s.row() for s in self.ablation]})

    def dependence_rows(self) -> list[dict[str, Any]]:
        """CSV rows: objective, parameter, value, mean, sd, lower, upper, n_background."""
        return [{"objective": self.label, **r} for d in self.dependences for r in d.rows()]

    def pair_rows(self) -> list[dict[str, Any]]:
        """CSV rows: objective, a, b, value_a, value_b, mean, sd, lower, upper, h2."""
        return [{"objective": self.label, **r, "h2": p.h2} for p in self.pairs for r in p.rows()]

    def ablation_rows(self) -> list[dict[str, Any]]:
        """CSV rows: objective, step, parameter, activated, from, to, dropped, value, sd, source, trial, gain, label."""
        return [{"objective": self.label, **s.row()} for s in self.ablation or []]


def explain_sweep(history: SweepHistory, defaults: Mapping[str, Any] | None, seed: int = 0,
                  n_background: int = N_BACKGROUND, n_grid: int = N_GRID,
                  n_pair_grid: int = N_PAIR_GRID) -> list[HyperExplanation]:
    """One explanation per objective of ``history`` (module docstring); ``defaults``: the default configuration
    (values of the searched parameters without overrides), None when not recorded."""
    space = history.space
    bg = background(space, n_background, np.random.default_rng(seed)) if space.dim else []
    # matrices of a few hundred rows: a second thread costs more in synchronisation than it saves, and on shared
    # cores (a sweep still running beside the report) spinning threads made it 10-50x slower
    with limited_threads(1):
        return [explain_objective(space, label, direction, trials, defaults, bg, history.strategy, seed, n_grid,
                                  n_pair_grid) for label, direction, trials in objective_trials(history)]


def objective_trials(history: SweepHistory) -> list[tuple[str, str, list[Trial]]]:
    """``(label, direction, trials)`` per objective: the complete feasible trials with a finite value for it, best
    first (ties: the earlier trial)."""
    if history.multi:
        goals = history.goals
        done = [r for r in history.trials if r.state == TrialState.COMPLETE and r.feasible and r.values is not None]
        out = []
        for i, (label, direction) in enumerate(zip(goals.labels, goals.directions)):
            rows = [(r.number, dict(r.params), float(r.values[i])) for r in done
                    if len(r.values) > i and _finite(r.values[i])]
            out.append((label, direction, _best_first(rows, direction)))
        return out
    return [(history.label, history.direction, [(r.number, dict(r.params), float(r.value)) for r in history.ranked()])]


def explain_objective(space: SearchSpace, label: str, direction: str, trials: Sequence[Trial],
                      defaults: Mapping[str, Any] | None, bg: Sequence[Mapping[str, Any]], strategy: str = "?",
                      seed: int = 0, n_grid: int = N_GRID, n_pair_grid: int = N_PAIR_GRID) -> HyperExplanation:
    """The explanation of one objective from its ``trials`` (best first) over background configurations ``bg``."""
    trials, foreign = _encodable(space, trials)
    out = HyperExplanation(label, direction, method_text(len(trials), strategy), len(trials), trials=trials)
    if foreign:
        out.notes.append(f"Left out {len(foreign)} trial{'s' * (len(foreign) != 1)} without a value for every "
                         f"parameter active there (trial{'s' * (len(foreign) != 1)} {', '.join(map(str, foreign))}).")
    d, n = space.dim, len(trials)
    if not d:
        out.notes.append("No searched parameter: nothing to explain.")
        return out
    if n < min_trials(d):
        more = min_trials(d) - n
        out.notes.append(f"Not explained: {n} complete trial{'s' * (n != 1)} of {label}, and {min_trials(d)} are "
                         f"needed for {d} parameter{'s' * (d != 1)}; {more} more complete trial{'s' * (more != 1)} "
                         "needed.")
        return out
    points, y = [t[1] for t in trials], np.array([t[2] for t in trials], dtype=np.float64)
    if np.ptp(y) == 0:
        out.notes.append(f"Not explained: {label} is flat (every complete trial gave {y[0]:.6g}); no parameter moved "
                         "it.")
        return out
    out.importance = objective_importance(space, points, y, seed)
    sur = fit_surrogate(space, points, y, label, direction, seed)
    order = [name for name, _, _ in out.importance.ranked()]
    out.dependences = [partial_dependence(sur, name, bg, n_grid) for name in order]
    if d >= 2:
        weights = {name: max(v, 0.0) + 1e-9 * dep.range for (name, v, _), dep in
                   zip(out.importance.ranked(), out.dependences)}  # a flat forest: the dependences' ranges decide
        found = [pair_dependence(sur, a, b, bg, n_pair_grid) for a, b in top_pairs(weights, PAIR_CANDIDATES)]
        out.pairs = sorted(found, key=lambda p: -p.interaction)[:TOP_PAIRS]
    shaky = out.importance.uncertain()
    if shaky:
        out.notes.append(f"Importance uncertain (spread across trees exceeds it) for: {', '.join(shaky)}.")
    out.ablation = _ablation(sur, space, defaults, trials, out.notes)
    return out


def objective_importance(space: SearchSpace, points: Sequence[Mapping[str, Any]], y: np.ndarray,
                         seed: int = 0) -> Importance:
    """fANOVA importance of ``y (n,)`` over ``points``, a conditional parameter's where it is active: what
    ``importance.sweep_importance`` computes for a sweep's one objective, for any objective's values."""
    X = encode(space, points)
    overall = fanova_importance(X, y, space.names, seed=seed)
    return where_active(space, X, y, points, overall, seed, N_TREES) if space.conditions else overall


def method_text(n: int, strategy: str) -> str:
    """How the surrogate was made, for the report."""
    whose = "the model bayes fits" if strategy == "bayes" else f"the model bayes fits (this sweep ran {strategy})"
    return (f"GP (Matérn 5/2, ARD, MAP), {whose}, on the {n} complete trials' standardised values (not power-warped,"
            " so effects read in the objective's units); partial dependence averaged over configurations drawn as a "
            "random search draws them, bands mean +- 1.96 posterior sd")


def _ablation(sur: Surrogate, space: SearchSpace, defaults: Mapping[str, Any] | None, trials: Sequence[Trial],
              notes: list[str]) -> list[AblationStep] | None:
    """The ablation path to the best trial, or None (and a note) without a usable default configuration."""
    if defaults is None:
        notes.append("No default configuration recorded: no ablation path.")
        return None
    best = trials[0][1]
    given = {k: v for k, v in defaults.items() if k in space.names}
    missing = [n for n in space.active({**best, **given}) if n not in given]
    if missing:
        notes.append(f"The default configuration has no value for {', '.join(missing)}: the ablation path starts "
                     "from the best trial's value there.")
        given = {**given, **{n: best[n] for n in missing}}
    try:
        return ablation_path(sur, given, best, trials)
    except ValueError as err:
        notes.append(f"No ablation path: {err}")
        return None


def _encodable(space: SearchSpace, trials: Sequence[Trial]) -> tuple[list[Trial], list[int]]:
    """The trials the surrogate can read (a value, of the right kind, for every parameter active there), and the
    numbers of the others."""
    kept, foreign = [], []
    for t in trials:
        try:
            encode_configs(space, [t[1]])
        except ValueError:
            foreign.append(t[0])
            continue
        kept.append(t)
    return kept, foreign


def _best_first(rows: list[Trial], direction: str) -> list[Trial]:
    s = objective.sign(direction)
    return sorted(rows, key=lambda t: (s * t[2], t[0]))


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _plain(x: Any) -> Any:
    """``x`` with numpy scalars and arrays as Python numbers and lists, non-finite floats as None (JSON has none)."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, np.ndarray):
        return _plain(x.tolist())
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x
