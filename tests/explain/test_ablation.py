"""Ablation paths: from the default (first) to the best trial (last, measured), the biggest step where the biggest
true effect is, conditions respected, and every step labelled measured or predicted."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipeline.explain.ablation import MEASURED, PREDICTED, ablation_path
from pipeline.explain.surrogate import Surrogate, fit_surrogate
from pipeline.search.space import SearchSpace

SPACE = SearchSpace.from_grammar({"x": "interval(0,1)", "lr": "tag(log, interval(1e-4, 1e-1))",
                                  "opt": "choice(sgd,adam)", "z": "interval(0,1)"})
DEFAULT = {"x": 0.9, "lr": 1e-2, "opt": "sgd", "z": 0.5}


def loss(p: dict) -> float:
    """x matters most (up to 2), then opt (0.4), lr a little, z nothing."""
    return 2.0 * p["x"] + (0.4 if p["opt"] == "sgd" else 0.0) + 0.1 * (math.log10(p["lr"]) + 4) / 3


def trials_of(space: SearchSpace, f, n: int, seed: int, sign: float = 1.0) -> list[tuple[int, dict, float]]:
    """``(number, params, value)`` of ``n`` random trials, best first."""
    points = space.decode(np.random.default_rng(seed).random((n, space.dim)))
    return sorted(((k, p, f(p)) for k, p in enumerate(points)), key=lambda t: sign * t[2])


def surrogate(space: SearchSpace, trials, direction: str = "minimize") -> Surrogate:
    return fit_surrogate(space, [t[1] for t in trials], np.array([t[2] for t in trials]), "loss", direction)


@pytest.fixture(scope="module")
def fitted() -> tuple[Surrogate, list]:
    trials = trials_of(SPACE, loss, 40, 0)
    return surrogate(SPACE, trials), trials


def test_the_path_runs_from_the_default_to_the_best_trial(fitted):
    sur, trials = fitted
    number, best, best_value = trials[0]
    path = ablation_path(sur, DEFAULT, best, trials)
    first, last = path[0], path[-1]
    assert (first.step, first.parameters, first.label, first.gain, first.source) == (0, (), "default", 0.0, PREDICTED)
    assert first.config == DEFAULT and first.value == pytest.approx(loss(DEFAULT), abs=0.15)
    assert (last.source, last.trial, last.value, last.sd, last.config) == (MEASURED, number, best_value, None, best)
    assert all(s.source == PREDICTED and s.trial is None and s.sd > 0 for s in path[1:-1])
    assert [s.step for s in path] == list(range(len(path)))
    # each differing parameter changes once, from the default's value to the best's
    changed = [s.parameters[0] for s in path[1:]]
    assert sorted(changed) == sorted(n for n in SPACE.names if DEFAULT[n] != best[n])
    assert all(s.from_values == (DEFAULT[s.parameters[0]],) and s.to_values == (best[s.parameters[0]],)
               for s in path[1:])
    # gains telescope: together they are the whole improvement from the default to the best
    assert sum(s.gain for s in path) == pytest.approx(first.value - best_value)


def test_the_biggest_step_is_the_biggest_true_effect(fitted):
    sur, trials = fitted
    path = ablation_path(sur, DEFAULT, trials[0][1], trials)
    biggest = max(path[1:], key=lambda s: s.gain)
    assert biggest.parameters == ("x",) and biggest.gain > 1.0
    assert path[1].parameters == ("x",)  # greedy: the best predicted change first
    assert next(s for s in path if s.parameters == ("opt",)).gain == pytest.approx(0.4, abs=0.15)


def test_a_default_that_was_run_is_measured_and_default_equal_to_best_is_one_step(fitted):
    sur, trials = fitted
    runs = [*trials, (99, dict(DEFAULT), 2.5)]
    path = ablation_path(sur, DEFAULT, trials[0][1], runs)
    assert (path[0].source, path[0].trial, path[0].value, path[0].sd) == (MEASURED, 99, 2.5, None)
    only = ablation_path(sur, trials[0][1], trials[0][1], trials)
    assert len(only) == 1 and only[0].source == MEASURED and only[0].trial == trials[0][0]


def test_values_outside_the_space_are_reported_as_given(fitted):
    sur, trials = fitted
    foreign = {"x": 1.5, "lr": 1e-2, "opt": "rmsprop", "z": 0.5, "epochs": 10}  # epochs: not searched, ignored
    path = ablation_path(sur, foreign, trials[0][1], trials)
    assert path[0].config == {"x": 1.5, "lr": 1e-2, "opt": "rmsprop", "z": 0.5}
    steps = {s.parameters[0]: s for s in path[1:]}
    assert steps["x"].from_values == (1.5,) and steps["opt"].from_values == ("rmsprop",)
    assert math.isfinite(path[0].value) and path[-1].source == MEASURED
    with pytest.raises(ValueError, match="'z'"):
        ablation_path(sur, {"x": 0.5, "lr": 1e-2, "opt": "sgd"}, trials[0][1], trials)


def test_a_maximized_objective_gains_upward():
    trials = trials_of(SPACE, lambda p: -loss(p), 30, 1, sign=-1.0)
    sur = surrogate(SPACE, trials, "maximize")
    path = ablation_path(sur, DEFAULT, trials[0][1], trials)
    assert max(path[1:], key=lambda s: s.gain).parameters == ("x",)
    assert sum(s.gain for s in path) == pytest.approx(path[-1].value - path[0].value) and path[-1].value > path[0].value


FAMILIES = SearchSpace.from_grammar(
    {"model": "choice(mlp,cnn)", "width": "interval(0,1)", "kernel": "choice(3,5,7)", "lr": "interval(0,1)"},
    {"width": "model=mlp", "kernel": "model=cnn"})


def family_loss(p: dict) -> float:
    own = p["width"] if p["model"] == "mlp" else 0.1 * abs(p["kernel"] - 5)
    return (0.5 if p["model"] == "mlp" else 0.0) + own + 0.3 * p["lr"]


def test_switching_a_family_brings_its_children_and_drops_the_others():
    trials = trials_of(FAMILIES, family_loss, 40, 2)
    best = trials[0][1]
    assert best["model"] == "cnn"
    default = {"model": "mlp", "width": 0.8, "kernel": 3, "lr": 0.9}  # kernel inactive at the default
    path = ablation_path(surrogate(FAMILIES, trials), default, best, trials)
    assert path[0].config == {"model": "mlp", "width": 0.8, "lr": 0.9}
    switch = next(s for s in path[1:] if s.parameters[0] == "model")
    assert switch.parameters == ("model", "kernel") and switch.dropped == ("width",)
    assert switch.from_values == ("mlp", None) and switch.to_values == ("cnn", best["kernel"])
    assert "kernel=" in switch.label and switch.label.startswith("model: mlp -> cnn")
    assert all(set(s.config) == set(FAMILIES.active(s.config)) for s in path)  # only active values, always
    assert path[-1].config == best and path[-1].source == MEASURED
    assert sorted(s.parameters[0] for s in path[1:]) == ["lr", "model"]  # width is never compared: gone with mlp
    row = switch.row()
    assert (row["parameter"], row["activated"], row["dropped"]) == ("model", "kernel", "width")
    assert (row["from"], row["to"], row["source"]) == ("mlp;", f"cnn;{best['kernel']}", switch.source)
    assert path[0].row()["parameter"] == "default"
