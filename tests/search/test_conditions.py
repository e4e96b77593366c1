"""Conditional spaces: reading conditions, refusing bad ones, and every strategy searching active values only."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.search import SearchSpace, make_optimizer
from pipeline.search.conditions import Condition, parse_conditions
from pipeline.search.space import INACTIVE

# a categorical root with branches of their own, and a layer width active only with enough layers
GRAMMAR = {"model": "choice(mlp,cnn)", "model.hidden_dim": "choice(32,64)", "model.channels": "choice(8,16)",
           "model.num_layers": "range(1,3)", "width_2": "choice(16,32,64)"}
CONDITIONS = {"model.hidden_dim": "model=mlp", "model.channels": "model in [cnn]", "width_2": "model.num_layers>=2"}
SPACE = SearchSpace.from_grammar(GRAMMAR, CONDITIONS)


def distinct() -> set[tuple]:
    """Every valid configuration, written out by hand from the conditions."""
    out = set()
    for model, own in (("mlp", ("model.hidden_dim", (32, 64))), ("cnn", ("model.channels", (8, 16)))):
        for v in own[1]:
            out.add((("model", model), (own[0], v), ("model.num_layers", 1)))
            for w in (16, 32, 64):
                out.add((("model", model), (own[0], v), ("model.num_layers", 2), ("width_2", w)))
    return {tuple(sorted(p)) for p in out}


def key(point: dict) -> tuple:
    return tuple(sorted(point.items()))


@pytest.mark.parametrize("text, expected", [
    ("model=cnn", [Condition("model", "=", ("cnn",))]),
    ("model in [cnn, rnn]", [Condition("model", "in", ("cnn", "rnn"))]),
    ("model not in [mlp]", [Condition("model", "not in", ("mlp",))]),
    ("n>=3 and act!=relu", [Condition("n", ">=", (3,)), Condition("act", "!=", ("relu",))]),
    ("lr<0.01", [Condition("lr", "<", (0.01,))]),
])
def test_conditions_are_read_as_written(text, expected):
    assert list(parse_conditions("k", text)) == expected
    assert [str(c) for c in parse_conditions("k", text)] == [str(c) for c in expected]


@pytest.mark.parametrize("conditions, message", [
    ({"nope": "model=mlp"}, "'nope' is not a searched parameter"),
    ({"width_2": "depth>=2"}, "'depth' is not a parameter of the sweep"),
    ({"width_2": "model.num_layers>=5"}, "holds for no value of model.num_layers (1, 2)"),
    ({"model.hidden_dim": "model=rnn"}, "model=rnn holds for no value of model (mlp, cnn)"),
    ({"model.channels": "width_2>16", "width_2": "model.channels=8"}, "a cycle"),
    ({"width_2": "width_2>16"}, "depends on itself"),
    ({"width_2": "model.num_layers>=two"}, "not a number"),
    ({"width_2": "model.num_layers ~ 2"}, "cannot be read"),
])
def test_bad_conditions_name_what_is_wrong(conditions, message):
    with pytest.raises(ValueError, match=None) as err:
        SearchSpace.from_grammar(GRAMMAR, conditions)
    assert message in str(err.value)


def test_a_condition_on_a_fixed_value_holds_or_says_the_parameter_is_never_searched():
    space = SearchSpace.from_grammar({**GRAMMAR, "model.num_layers": 2}, {"width_2": "model.num_layers>=2"})
    assert not space.conditions and "width_2" in space.decode(np.full((1, space.dim), 0.5))[0]
    with pytest.raises(ValueError, match="fixed to 1"):
        SearchSpace.from_grammar({**GRAMMAR, "model.num_layers": 1}, {"width_2": "model.num_layers>=2"})


def test_points_carry_active_parameters_only_and_inactive_ones_encode_as_one_point():
    mlp = {"model": "mlp", "model.hidden_dim": 32, "model.num_layers": 1}
    assert SPACE.active(mlp) == ["model", "model.hidden_dim", "model.num_layers"]
    X = SPACE.encode([mlp, {**mlp, "model.channels": 16, "width_2": 64}])  # inactive values given: ignored
    assert (X[0] == X[1]).all() and (X[0][[2, 4]] == INACTIVE).all()
    assert SPACE.decode(X)[0] == mlp
    assert SPACE.validate({**mlp, "width_2": 64}) == mlp
    with pytest.raises(ValueError, match="lacks parameters"):
        SPACE.validate({"model": "cnn", "model.num_layers": 2, "model.channels": 8})  # width_2 is active there
    assert SPACE.cardinality() == len(distinct()) == 16


def test_a_child_of_an_inactive_parameter_is_inactive():
    space = SearchSpace.from_grammar({**GRAMMAR, "width_3": "choice(8,16)"},
                                     {**CONDITIONS, "width_3": "width_2>=32"})
    point = space.decode(space.encode([{"model": "mlp", "model.hidden_dim": 32, "model.num_layers": 1,
                                        "width_2": 64, "width_3": 8}]))[0]
    assert "width_2" not in point and "width_3" not in point


def test_grid_enumerates_each_valid_configuration_once():
    points = make_optimizer("grid", SPACE).ask(100)
    assert len(points) == 16 and {key(p) for p in points} == distinct()
    subset = make_optimizer("grid", SPACE, n_trials=8).ask(100)
    assert len({key(p) for p in subset}) == 8 and {p["model"] for p in subset} == {"mlp", "cnn"}
    assert sum(p["model"] == "mlp" for p in subset) == 4  # balanced over the root's branches


@pytest.mark.parametrize("strategy", ["random", "bayes", "evolution"])
def test_random_bayes_and_evolution_propose_active_parameters_only(strategy):
    opt = make_optimizer(strategy, SPACE, seed=3)
    seen = []
    for _ in range(16):
        [p] = opt.ask(1)
        assert key(p) in distinct(), p
        seen.append(key(p))
        opt.tell(p, float(p.get("model.hidden_dim", 0) + p.get("width_2", 0)))
    if strategy != "random":  # never the same configuration twice, though they differ in inactive values
        assert len(set(seen)) == len(seen)


def test_bayes_learns_within_a_branch_and_across_branches():
    """A hierarchical problem: the cnn branch is better, and there the best depends on its own parameter; bayes
    finds the optimum more often than random in the same budget (seeds paired)."""
    grammar = {"family": "choice(a,b,c)", "xa": "interval(0,1)", "xb": "interval(0,1)", "xc": "interval(0,1)",
               "shared": "interval(0,1)"}
    conditions = {"xa": "family=a", "xb": "family=b", "xc": "family=c"}
    space = SearchSpace.from_grammar(grammar, conditions)
    offset = {"a": 0.5, "b": 0.0, "c": 1.0}

    def f(p):
        x = p[f"x{p['family']}"]
        return offset[p["family"]] + (x - 0.3) ** 2 + 0.5 * (p["shared"] - 0.7) ** 2

    def run(strategy, seed):
        opt = make_optimizer(strategy, space, seed=seed)
        for _ in range(30):
            [p] = opt.ask(1)
            opt.tell(p, f(p))
        return opt.best()[1]

    bayes = np.array([run("bayes", s) for s in range(4)])
    rand = np.array([run("random", s) for s in range(4)])
    assert np.median(bayes) < 0.01 and np.median(bayes) < np.median(rand) and not np.isnan(bayes).any()


def test_a_large_finite_conditional_space_is_searched_without_listing_it():
    grammar = {"depth": "range(1,5)", **{f"w{i}": "range(8,200)" for i in range(1, 5)},
               **{f"a{i}": "choice(relu,gelu,tanh)" for i in range(1, 5)}}
    conditions = {**{f"w{i}": f"depth>={i}" for i in range(2, 5)}, **{f"a{i}": f"depth>={i}" for i in range(2, 5)}}
    space = SearchSpace.from_grammar(grammar, conditions)
    assert space.cardinality() > 1e9  # the product: too many combinations to count one by one
    for strategy in ("random", "bayes", "evolution"):
        opt = make_optimizer(strategy, space, seed=0)
        for _ in range(12):
            [p] = opt.ask(1)
            assert set(p) == set(space.active(p)) and len(p) == 1 + 2 * p["depth"]
            opt.tell(p, float(p["w1"]))
