"""Grid search: Hydra's product order, discretised intervals, caps, shuffling, exhaustion, resume."""

from __future__ import annotations

import itertools

import pytest
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser

from pipeline.search import SearchSpace, make_optimizer
from pipeline.search.grid import GridOptimizer

GRAMMAR = {"model": "choice(mlp,cnn,rnn)", "layers": "range(1,3)", "lr": "interval(0.0,0.3)"}


def grid(grammar: dict, **options) -> GridOptimizer:
    return make_optimizer("grid", SearchSpace.from_grammar(grammar), **options)


def key(point: dict) -> tuple:
    return tuple(sorted(point.items()))


def test_full_product_count_values_and_exhaustion() -> None:
    opt = grid(GRAMMAR, grid_points=4)
    points = opt.ask(100)
    assert opt.n_total == len(points) == 3 * 2 * 4
    assert len({key(p) for p in points}) == 24
    assert sorted({p["lr"] for p in points}) == [0.0, 0.1, 0.2, 0.3]
    assert {type(p["layers"]) for p in points} == {int}
    assert opt.ask(1) == [] and opt.ask(5) == []


def test_order_matches_hydra_basic_sweeper() -> None:
    overrides = ["model=mlp,cnn,rnn", "layers=range(1,3)", "act=relu,tanh", "epochs=5"]
    parsed = OverridesParser.create().parse_overrides(overrides)
    (batch,) = BasicSweeper.split_arguments(parsed, None)
    expected = [{k: v for k, v in (o.split("=") for o in job)} for job in batch]
    space = SearchSpace.from_grammar(dict(o.split("=") for o in overrides))
    ours = [{k: str(v) for k, v in p.items()} for p in make_optimizer("grid", space).ask(100)]
    assert ours == expected


def test_first_parameter_varies_slowest() -> None:
    points = grid({"a": "choice(x,y)", "b": "range(0,3)"}).ask(6)
    assert [(p["a"], p["b"]) for p in points] == list(itertools.product(["x", "y"], [0, 1, 2]))


@pytest.mark.parametrize("expr", ["interval(0,1)", "tag(log,interval(1e-4,1))", "int(interval(1,10))",
                                  "tag(log,int(interval(16,512)))"])
def test_intervals_need_grid_points_and_the_error_names_them(expr: str) -> None:
    with pytest.raises(ValueError, match=r"parameter 'optimizer\.lr' is an interval.*grid_points"):
        grid({"model": "mlp,cnn", "optimizer.lr": expr})


def test_choices_and_ranges_need_no_grid_points_and_ignore_them() -> None:
    assert grid({"a": "x,y", "b": "range(0,5)", "c": "range(0.0,1.0,0.5)"}).n_total == 2 * 5 * 2
    assert grid({"a": "x,y", "b": "range(0,5)"}, grid_points=2).n_total == 2 * 5


def test_log_spacing_and_int_intervals() -> None:
    points = grid({"lr": "tag(log,interval(1e-4,1.0))"}, grid_points=5).ask(10)
    assert [p["lr"] for p in points] == [1e-4, 1e-3, 1e-2, 1e-1, 1.0]
    assert [p["n"] for p in grid({"n": "tag(log,int(interval(1,1000)))"}, grid_points=4).ask(10)] == [1, 10, 100,
                                                                                                     1000]
    assert [p["n"] for p in grid({"n": "int(interval(1,10))"}, grid_points=4).ask(10)] == [1, 4, 7, 10]
    # more grid points than integers: each integer once
    assert [p["n"] for p in grid({"n": "int(interval(1,3))"}, grid_points=10).ask(10)] == [1, 2, 3]


def test_n_trials_caps_the_grid_with_every_value_tried_evenly() -> None:
    from collections import Counter

    opt = grid(GRAMMAR, grid_points=4, n_trials=5)
    assert opt.n_total == 5
    points = opt.ask(10)
    assert len(points) == len({key(p) for p in points}) == 5 and opt.ask(1) == []
    assert points != grid(GRAMMAR, grid_points=4).ask(5)  # not the grid's first five (all model=mlp)
    for name, n_values in (("model", 3), ("layers", 2), ("lr", 4)):
        counts = Counter(p[name] for p in points)
        assert len(counts) == min(5, n_values) and max(counts.values()) - min(counts.values()) <= 1, (name, counts)
    assert grid(GRAMMAR, grid_points=4, n_trials=5).ask(5) == points  # the same subset: a resume continues it
    assert grid(GRAMMAR, grid_points=4, n_trials=1000).n_total == 24


def test_balanced_subset_of_a_27_point_grid() -> None:
    """The issue's case: 3 x 3 x 3 with n_trials=20 tried num_layers=3 twice; now 6 or 7 times each."""
    from collections import Counter

    from pipeline.search.grid import _digits, balanced_subset

    subset = balanced_subset([3, 3, 3], 20)
    assert len(set(subset.tolist())) == 20
    for k in range(3):
        assert sorted(Counter(_digits(int(i), [3, 3, 3])[k] for i in subset).values()) == [6, 7, 7]


def test_shuffle_is_reproducible_and_seeded() -> None:
    ordered = grid(GRAMMAR, grid_points=4).ask(24)
    a = grid(GRAMMAR, grid_points=4, shuffle=True, seed=7).ask(24)
    b = grid(GRAMMAR, grid_points=4, shuffle=True, seed=7).ask(24)
    c = grid(GRAMMAR, grid_points=4, shuffle=True, seed=8).ask(24)
    assert a == b and a != c and a != ordered
    assert sorted(map(key, a)) == sorted(map(key, ordered))
    capped = grid(GRAMMAR, grid_points=4, shuffle=True, seed=7, n_trials=6).ask(24)
    assert len(capped) == 6 and {key(p) for p in capped} <= {key(p) for p in ordered}


def test_pending_points_are_not_proposed_twice() -> None:
    opt = grid(GRAMMAR, grid_points=4)
    first, second = opt.ask(10), opt.ask(10)
    assert len(first) == len(second) == 10
    assert not {key(p) for p in first} & {key(p) for p in second}
    assert len(opt.pending) == 20


def test_resume_skips_told_points() -> None:
    full = grid(GRAMMAR, grid_points=4).ask(24)
    old = grid(GRAMMAR, grid_points=4)
    finished = old.ask(7)
    fresh = grid(GRAMMAR, grid_points=4)
    for i, p in enumerate(finished):  # as read back from a tracking server: values as strings
        fresh.tell({k: str(v) for k, v in p.items()}, None if i == 3 else float(i))
    rest = fresh.ask(100)
    assert rest == full[7:]
    assert fresh.ask(1) == []


def test_resume_skips_out_of_order_points() -> None:
    full = grid(GRAMMAR, grid_points=4).ask(24)
    fresh = grid(GRAMMAR, grid_points=4)
    for p in full[5:10] + full[20:]:
        fresh.tell(p, 1.0)
    assert fresh.ask(100) == full[:5] + full[10:20]


def test_space_without_parameters_has_one_point() -> None:
    opt = grid({"epochs": "5"})
    assert opt.n_total == 1
    assert opt.ask(3) == [{"epochs": 5}] and opt.ask(1) == []


@pytest.mark.parametrize(("options", "match"), [
    ({"grid_points": 1}, r"grid_points=1: expected an integer >= 2"),
    ({"grid_points": "5"}, r"grid_points='5': expected an integer >= 2"),
    ({"grid_points": 4, "n_trials": 0}, r"n_trials=0: expected an integer >= 1"),
    ({"grid_points": 4, "shuffle": "yes"}, r"shuffle='yes': expected true or false"),
    ({"grid_points": 4, "sampler": "sobol"}, r"unknown option\(s\) \['sampler'\]; expected \['seed', 'direction', "
                                             r"'grid_points', 'n_trials', 'shuffle'\]"),
    ({"grid_points": 4, "direction": "up"}, r"direction='up' must be one of"),
])
def test_bad_options(options: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        grid(GRAMMAR, **options)
