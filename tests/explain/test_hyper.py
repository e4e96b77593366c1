"""Per-objective explanations of a sweep: each objective's weight on the parameters that truly drive it, what cannot
be computed said so, and the artifacts in plain JSON and CSV rows."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from pipeline import objective
from pipeline.explain.ablation import MEASURED
from pipeline.explain.hyper import HyperExplanation, explain_sweep, method_text, objective_trials
from pipeline.results.insights.history import SweepHistory, TrialRow
from pipeline.results.insights.importance import min_trials
from pipeline.search.space import SearchSpace

SPACE = SearchSpace.from_grammar({"x": "interval(0,1)", "y": "interval(0,1)", "lr": "tag(log, interval(1e-4, 1e-1))",
                                  "opt": "choice(sgd,adam)"})
DEFAULTS = {"x": 0.5, "y": 0.5, "lr": 1e-4, "opt": "sgd", "epochs": 10}  # lr costs 0.11 there, sgd 0.03
FAST = {"n_background": 64, "n_grid": 8, "n_pair_grid": 5}  # small grids: the tests check meaning, not resolution


def accuracy(p: dict) -> float:
    """Driven by lr (a peak at 3e-3), then opt; x and y only a little."""
    return 0.9 - 0.05 * (math.log10(p["lr"]) + 2.5) ** 2 + (0.03 if p["opt"] == "adam" else 0.0) \
        + 0.002 * p["x"] - 0.002 * p["y"]


def sweep(n: int = 40, value=accuracy, direction: str = "maximize", seed: int = 0) -> SweepHistory:
    points = SPACE.decode(np.random.default_rng(seed).random((n, SPACE.dim)))
    rows = [TrialRow(k, "complete", value(p), p) for k, p in enumerate(points)]
    rows += [TrialRow(n, "failed", None, points[0]), TrialRow(n + 1, "pruned", 0.1, points[1])]  # not explained
    return SweepHistory("parent", "0", "random", direction, "val_accuracy", SPACE, rows)


@pytest.fixture(scope="module")
def single() -> HyperExplanation:
    (expl,) = explain_sweep(sweep(), DEFAULTS, **FAST)
    return expl


def test_one_objective_is_explained_where_its_weight_is(single):
    expl = single
    assert (expl.label, expl.direction, expl.n_trials) == ("cv val_accuracy", "maximize", 40)
    assert not any("Not explained" in n or "ablation" in n for n in expl.notes)
    assert expl.importance.ranked()[0][0] == "lr"
    assert [d.name for d in expl.dependences] == [n for n, _, _ in expl.importance.ranked()]  # most important first
    lr, opt = expl.dependence("lr"), expl.dependence("opt")
    assert lr.log and abs(math.log10(lr.best(-1.0)) + 2.5) <= 0.5 and lr.range > 0.1
    assert opt.best(-1.0) == "adam"
    assert max(expl.dependence("x").range, expl.dependence("y").range) < 0.1 * lr.range
    assert "the model bayes fits (this sweep ran random)" in expl.method and "40 complete trials" in expl.method


def test_pairs_are_the_top_pairs_with_their_h2(single):
    pairs = single.pairs
    assert 1 <= len(pairs) <= 3 and all(0.0 <= p.h2 <= 1.0 for p in pairs)
    assert [p.interaction for p in pairs] == sorted((p.interaction for p in pairs), reverse=True)
    assert all(p.a != p.b and {p.a, p.b} <= set(SPACE.names) for p in pairs)


def test_the_ablation_goes_from_the_default_to_the_best_trial(single):
    path = single.ablation
    best = single.trials[0]
    assert best[2] == max(t[2] for t in single.trials)  # best first, for a maximized objective
    assert path[0].label == "default" and path[0].config == {k: DEFAULTS[k] for k in SPACE.names}
    assert (path[-1].source, path[-1].trial, path[-1].value) == (MEASURED, best[0], best[2])
    assert max(path[1:], key=lambda s: s.gain).parameters == ("lr",)


def test_artifacts_are_plain_json_and_csv_rows(single):
    data = json.loads(json.dumps(single.as_json()))
    assert data["label"] == "cv val_accuracy" and data["importance"]["ranked"][0]["parameter"] == "lr"
    assert [d["parameter"] for d in data["dependence"]] == [d.name for d in single.dependences]
    assert len(data["ablation"]) == len(single.ablation) and data["pairs"][0]["h2"] == single.pairs[0].h2
    rows = single.dependence_rows()
    assert len(rows) == sum(len(d.values) for d in single.dependences)
    assert set(rows[0]) == {"objective", "parameter", "value", "mean", "sd", "lower", "upper", "n_background"}
    assert all(r["lower"] <= r["mean"] <= r["upper"] for r in rows)
    assert len(single.pair_rows()) == sum(len(p.values_a) * len(p.values_b) for p in single.pairs)
    steps = single.ablation_rows()
    assert steps[-1]["source"] == "measured" and steps[0]["parameter"] == "default" and steps[0]["label"] == "default"
    gains = {r["parameter"]: r["gain"] for r in steps[1:]}
    assert max(gains, key=gains.get) == "lr"


def test_two_objectives_each_get_their_own_weights():
    points = SPACE.decode(np.random.default_rng(1).random((40, SPACE.dim)))
    rows = [TrialRow(k, "complete", None, p, values=(3 * p["x"] + 0.01 * p["y"], -2 * p["y"] ** 2 + 0.01 * p["x"]))
            for k, p in enumerate(points)]
    rows.append(TrialRow(40, "complete", None, points[0], values=(1.0, 2.0), feasible=False))  # breaks a constraint
    history = SweepHistory("parent", "0", "bayes", "minimize", None, SPACE, rows,
                           goals=objective.Objectives(("loss", "size"), ("minimize", "maximize")))
    first, second = explain_sweep(history, None, **FAST)
    assert (first.label, first.direction, second.label, second.direction) == ("loss", "minimize", "size", "maximize")
    assert first.n_trials == second.n_trials == 40
    assert first.importance.ranked()[0][0] == "x" and second.importance.ranked()[0][0] == "y"
    assert first.dependence("x").range > 5 * first.dependence("y").range
    assert second.dependence("y").range > 5 * second.dependence("x").range
    assert first.dependence("x").range == pytest.approx(3.0, rel=0.15)
    assert second.dependence("y").range == pytest.approx(2.0, rel=0.15)
    assert second.trials[0][2] == max(t[2] for t in second.trials) and first.trials[0][2] == min(
        t[2] for t in first.trials)
    assert first.ablation is None and any("No default configuration" in n for n in first.notes)
    assert "the model bayes fits," in first.method


def test_too_few_trials_are_not_explained():
    n = min_trials(SPACE.dim) - 1
    (expl,) = explain_sweep(sweep(n), DEFAULTS, **FAST)
    assert expl.importance is None and expl.dependences == [] and expl.pairs == [] and expl.ablation is None
    assert expl.n_trials == n and f"{n} complete trials" in expl.notes[0] and "1 more complete trial needed" in \
        expl.notes[0]


def test_a_flat_objective_is_said_to_be_flat():
    (expl,) = explain_sweep(sweep(20, value=lambda p: 0.5), DEFAULTS, **FAST)
    assert expl.dependences == [] and "flat" in expl.notes[0]


def test_a_default_without_every_value_starts_from_the_best_there(single):
    (expl,) = explain_sweep(sweep(), {"x": 0.5, "y": 0.5, "opt": "sgd"}, **FAST)
    assert any("no value for lr" in n for n in expl.notes)
    assert expl.ablation[0].config["lr"] == expl.trials[0][1]["lr"]
    assert all(s.parameters[:1] != ("lr",) for s in expl.ablation)


def test_a_conditional_space_is_explained_where_each_parameter_is_active():
    space = SearchSpace.from_grammar({"model": "choice(mlp,cnn)", "width": "interval(0,1)", "x": "interval(0,1)"},
                                     {"width": "model=mlp"})
    points = space.decode(np.random.default_rng(2).random((30, space.dim)))
    rows = [TrialRow(k, "complete", p["x"] + (2 * p["width"] if p["model"] == "mlp" else 0.5), p)
            for k, p in enumerate(points)]
    history = SweepHistory("parent", "0", "bayes", "minimize", None, space, rows)
    (expl,) = explain_sweep(history, {"model": "mlp", "width": 0.5, "x": 0.5}, **FAST)
    width = expl.dependence("width")
    assert 0 < width.n_background < 64 and width.range == pytest.approx(2.0, rel=0.2)
    assert expl.importance.as_dict()["width"] > 0 and "where it is active" in expl.importance.method
    assert expl.ablation[-1].source == MEASURED


def test_objective_trials_and_method_text():
    history = sweep(12, direction="minimize")
    ((label, direction, trials),) = objective_trials(history)
    assert (label, direction, len(trials)) == ("cv val_accuracy", "minimize", 12)
    assert [t[2] for t in trials] == sorted(t[2] for t in trials)
    assert "the model bayes fits, on the 7 complete" in method_text(7, "bayes")


def test_a_trial_the_surrogate_cannot_read_is_left_out_and_named():
    history = sweep(30)
    history.trials[3].params = {"x": 0.5, "y": 0.5, "opt": "sgd"}  # no lr: a trial recorded without it
    (expl,) = explain_sweep(history, None, **FAST)
    assert expl.n_trials == 29 and any("Left out 1 trial" in n and "trial 3)" in n for n in expl.notes)
    assert expl.dependences
