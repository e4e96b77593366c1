"""The unit-cube encoding every optimizer relies on: round trips, bounds, types, cells."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipeline.search import CategoricalParam, FloatParam, IntParam, SearchSpace
from pipeline.search.space import params_equal

PARAMS = [
    FloatParam("lin", -2.0, 3.0),
    FloatParam("log", 1e-5, 1.0, log=True),
    FloatParam("stepped", 0.1, 0.9, step=0.1),
    IntParam("int", 1, 10),
    IntParam("int_step", 0, 12, step=4),
    IntParam("int_log", 16, 512, log=True, interval=True),
    CategoricalParam("cat", ("sgd", 1, 2.5, True, None)),
]
SPACE = SearchSpace(tuple(PARAMS), {"epochs": 5})
TYPES = {FloatParam: float, IntParam: int}


def sample_values(p) -> list:
    """Every value of a discrete parameter; bounds and a few interior points of a continuous one."""
    if p.n_values:
        return p.values()
    return [p.low, p.high, p.from_unit(0.3), p.from_unit(0.77)]


@pytest.mark.parametrize("p", PARAMS, ids=lambda p: p.name)
def test_encode_decode_round_trip(p) -> None:
    space = SearchSpace((p,))
    for v in sample_values(p):
        x = space.encode([{p.name: v}])
        assert x.shape == (1, 1) and 0.0 <= x[0, 0] <= 1.0
        (back,) = space.decode(x)
        assert back[p.name] == v and type(back[p.name]) is type(v)


def test_random_unit_points_decode_inside_bounds_with_python_types() -> None:
    U = np.random.default_rng(0).random((500, SPACE.dim))
    U[:5] = [0.0] * SPACE.dim, [1.0] * SPACE.dim, [1e-12] * SPACE.dim, [1 - 1e-12] * SPACE.dim, [0.5] * SPACE.dim
    for point in SPACE.decode(U):
        assert point["epochs"] == 5
        for p in PARAMS:
            v = point[p.name]
            if isinstance(p, CategoricalParam):
                assert v in p.choices
                continue
            assert type(v) is TYPES[type(p)]  # not numpy scalars
            assert p.low <= v <= p.high
            if p.n_values:
                assert v in p.values()
    X = SPACE.encode(SPACE.decode(U))
    assert X.dtype == np.float64 and ((0.0 <= X) & (X <= 1.0)).all()


@pytest.mark.parametrize("p", [CategoricalParam("c", ("a", "b", "c")), IntParam("i", 0, 12, step=4),
                               FloatParam("s", 0.0, 1.0, step=0.25)], ids=lambda p: p.name)
def test_discrete_cells_have_equal_width(p) -> None:
    u = (np.arange(1200) + 0.5) / 1200
    decoded = [d[p.name] for d in SearchSpace((p,)).decode(u[:, None])]
    counts = [sum(1 for d in decoded if d == v and type(d) is type(v)) for v in p.values()]
    assert counts == [1200 // p.n_values] * p.n_values


def test_categorical_cells_and_centres() -> None:
    p = CategoricalParam("c", ("a", "b", "c", "d"))
    assert [p.to_unit(c) for c in p.choices] == [0.125, 0.375, 0.625, 0.875]
    assert [p.from_unit(u) for u in (0.0, 0.2499, 0.25, 0.7499, 0.75, 1.0)] == ["a", "a", "b", "c", "d", "d"]


def test_log_scale_is_linear_in_log() -> None:
    p = FloatParam("lr", 1e-4, 1.0, log=True)
    assert [p.from_unit(u) for u in (0.0, 0.25, 0.5, 0.75, 1.0)] == [1e-4, 1e-3, 1e-2, 1e-1, 1.0]
    q = IntParam("n", 16, 512, log=True)
    assert q.from_unit(0.5) == round(math.sqrt((16 - 0.5) * (512 + 0.5)))


def test_bool_and_int_choices_stay_distinct() -> None:
    p = CategoricalParam("c", (1, True, 1.0))
    assert [p.index(v) for v in (1, True, 1.0)] == [0, 1, 2]
    assert p.index("1") == 0  # string form, as read back from a tracking server


def test_cardinality_n_values_and_mask() -> None:
    assert SPACE.cardinality() == math.inf
    discrete = SearchSpace((CategoricalParam("c", ("a", "b", "c")), IntParam("i", 0, 12, step=4),
                            FloatParam("s", 0.1, 0.9, step=0.1)))
    assert discrete.cardinality() == 3 * 4 * 9
    assert SPACE.n_values.tolist() == [0, 0, 9, 10, 4, 497, 5]
    assert SPACE.is_categorical.tolist() == [False] * 6 + [True]
    assert SearchSpace(()).cardinality() == 1.0


def test_snap_is_idempotent_and_keeps_decoded_values() -> None:
    U = np.random.default_rng(1).random((200, SPACE.dim))
    S = SPACE.snap(U)
    np.testing.assert_array_equal(SPACE.snap(S), S)
    assert SPACE.decode(S) == SPACE.decode(U)
    assert SPACE.snap(np.zeros((0, SPACE.dim))).shape == (0, SPACE.dim)


def test_validate_cleans_and_accepts_numeric_strings() -> None:
    point = {"lin": "0.5", "log": 0.001, "stepped": 0.30000000000000004, "int": 3.0, "int_step": np.int64(8),
             "int_log": "64", "cat": "sgd", "extra": "kept"}
    clean = SPACE.validate(point)
    assert clean == {"epochs": 5, "lin": 0.5, "log": 0.001, "stepped": 0.3, "int": 3, "int_step": 8,
                     "int_log": 64, "cat": "sgd", "extra": "kept"}
    assert type(clean["int"]) is int and type(clean["int_step"]) is int


GOOD = {"lin": 0.0, "log": 0.01, "stepped": 0.5, "int": 2, "int_step": 4, "int_log": 32, "cat": None}


@pytest.mark.parametrize(("change", "match"), [
    ({"cat": "adam"}, r"parameter 'cat': 'adam' is not one of \['sgd', 1, 2.5, True, None\]"),
    ({"lin": 3.5}, r"parameter 'lin': 3.5 is outside \[-2.0, 3.0\]"),
    ({"log": 0.0}, r"parameter 'log': 0.0 is outside"),
    ({"stepped": 0.55}, r"parameter 'stepped': 0.55 is not low \+ k\*step"),
    ({"int": 2.5}, r"parameter 'int': 2.5 is not an integer"),
    ({"int": True}, r"parameter 'int': True is not a number"),
    ({"int_step": 6}, r"parameter 'int_step': 6 is not low \+ k\*step"),
    ({"int_log": 600}, r"parameter 'int_log': 600 is outside \[16, 512\]"),
    ({"lin": "abc"}, r"parameter 'lin': 'abc' is not a number"),
])
def test_validate_errors_name_the_parameter(change: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        SPACE.validate(GOOD | change)


def test_validate_missing_and_decode_errors() -> None:
    with pytest.raises(ValueError, match=r"lacks parameters \['cat'\]"):
        SPACE.validate({k: v for k, v in GOOD.items() if k != "cat"})
    with pytest.raises(ValueError, match="expected points with 7 columns"):
        SPACE.decode(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="finite"):
        SPACE.decode(np.full((1, 7), np.nan))


def test_encode_clamps_to_the_cube() -> None:
    space = SearchSpace((FloatParam("x", 0.0, 1.0), IntParam("n", 1, 4), FloatParam("s", 0.0, 1.0, step=0.5)))
    X = space.encode([{"x": 2.0, "n": 99, "s": -3.0}])
    assert ((0.0 <= X) & (X <= 1.0)).all()


def test_space_rejects_duplicate_names() -> None:
    with pytest.raises(ValueError, match=r"defined twice: \['a'\]"):
        SearchSpace((IntParam("a", 0, 1), IntParam("a", 0, 2)))
    with pytest.raises(ValueError, match=r"defined twice: \['a'\]"):
        SearchSpace((IntParam("a", 0, 1),), {"a": 3})


def test_params_equal_tolerates_float_noise_only() -> None:
    assert params_equal({"x": 0.3, "c": "a"}, {"x": 0.1 + 0.2, "c": "a"}, ["x", "c"])
    assert not params_equal({"x": 0.3}, {"x": 0.31}, ["x"])
    assert not params_equal({"c": "a"}, {"c": "b"}, ["c"])
