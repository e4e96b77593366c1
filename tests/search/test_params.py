"""Parameter kinds: unit-cube round trips, log scale, steps, the cell layout, check() and n_values."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from pipeline.search.params import CategoricalParam, FloatParam, IntParam

LIN = FloatParam("lin", -2.0, 3.0)
LR = FloatParam("lr", 1e-4, 1e-1, log=True)
STEPPED = FloatParam("p", 0.0, 1.0, step=0.25)
INT = IntParam("n", 1, 10)
INT_STEP = IntParam("k", 0, 12, step=4)
INT_LOG = IntParam("h", 16, 512, log=True, interval=True)
CAT = CategoricalParam("opt", ("sgd", "adam", "rmsprop"))
MIXED = CategoricalParam("mixed", ("a", 1, 2.5, True, None))
ALL = [LIN, LR, STEPPED, INT, INT_STEP, INT_LOG, CAT, MIXED]
# Parameters whose n values own n equal cells [i/n, (i+1)/n) of [0, 1] (pipeline/search/space.py).
EQUAL_CELLS = [STEPPED, FloatParam("q", 0.0, 0.3, step=0.1), INT, INT_STEP, CAT, MIXED]


def sample_values(p) -> list:
    """Every value of a discrete parameter; bounds and interior points of a continuous one."""
    if p.n_values:
        return p.values()
    return [p.low, p.high, p.from_unit(0.3), p.from_unit(0.77), p.low + (p.high - p.low) / 7]


@pytest.mark.parametrize("p", ALL, ids=lambda p: p.name)
def test_from_unit_inverts_to_unit(p):
    for v in sample_values(p):
        u = p.to_unit(v)
        assert 0.0 <= u <= 1.0
        back = p.from_unit(u)
        if isinstance(v, float) and not p.n_values:
            assert back == pytest.approx(v, rel=1e-11)
        else:
            assert back == v and type(back) is type(v)


@pytest.mark.parametrize("p", [LIN, LR], ids=lambda p: p.name)
def test_continuous_to_unit_inverts_from_unit(p):
    for u in np.linspace(0.0, 1.0, 11):
        assert p.to_unit(p.from_unit(u)) == pytest.approx(u, abs=1e-10)


@pytest.mark.parametrize(("p", "value", "unit"), [
    (LIN, -2.0, 0.0), (LIN, 3.0, 1.0), (LIN, 0.5, 0.5), (LIN, -0.75, 0.25),
    (LIN, -10.0, 0.0), (LIN, 10.0, 1.0),                      # clamped to the cube
    (LR, 1e-4, 0.0), (LR, 1e-3, 1 / 3), (LR, 1e-2, 2 / 3), (LR, 1e-1, 1.0),  # affine in log(value)
    (LR, 1e-6, 0.0), (LR, 1.0, 1.0),
])
def test_float_to_unit(p, value, unit):
    assert p.to_unit(value) == pytest.approx(unit, abs=1e-12)


def test_float_from_unit_clamps_and_trims_binary_noise():
    assert LIN.from_unit(-0.5) == -2.0 and LIN.from_unit(1.5) == 3.0
    # 12 significant digits: 0.1 + 0.5 * 0.1 is 0.15000000000000002 in binary, 10**-3 via exp/log is not exact
    assert FloatParam("x", 0.1, 0.2).from_unit(0.5) == 0.15
    assert LR.from_unit(1 / 3) == 0.001 and LR.from_unit(2 / 3) == 0.01
    assert LR.from_unit(0.5) == pytest.approx(10 ** -2.5, rel=1e-11)


def test_log_float_is_uniform_in_log_space():
    values = [LR.from_unit(u) for u in np.linspace(0.0, 1.0, 7)]
    ratios = np.array(values[1:]) / np.array(values[:-1])
    assert ratios == pytest.approx(np.full(6, 10 ** 0.5), rel=1e-9)


@pytest.mark.parametrize("p", EQUAL_CELLS, ids=lambda p: p.name)
def test_discrete_values_own_equal_cells(p):
    n = p.n_values
    for i, v in enumerate(p.values()):
        assert p.to_unit(v) == pytest.approx((i + 0.5) / n, abs=1e-12)  # the cell's centre
        for u in (i / n + 1e-9, (i + 0.5) / n, (i + 1) / n - 1e-9):
            assert p.from_unit(u) == v and type(p.from_unit(u)) is type(v)
    assert p.from_unit(-0.3) == p.values()[0] and p.from_unit(1.0) == p.values()[-1]
    assert p.from_unit(1.7) == p.values()[-1]


def test_int_cells_on_linear_scale():
    # [low - step/2, high + step/2] = [0.5, 10.5] onto [0, 1]: k's cell is [(k - 1)/10, k/10)
    assert [INT.to_unit(k) for k in (1, 2, 10)] == pytest.approx([0.05, 0.15, 0.95])
    assert INT.from_unit(0.1 + 1e-9) == 2 and INT.from_unit(0.1 - 1e-9) == 1
    assert INT_STEP.to_unit(4) == pytest.approx(0.375)  # [-2, 14] onto [0, 1]


def test_int_cells_on_log_scale():
    lo, hi = math.log(15.5), math.log(512.5)

    def unit(x):
        return (math.log(x) - lo) / (hi - lo)

    widths = []
    for k in (16, 17, 40, 100, 511, 512):
        assert INT_LOG.to_unit(k) == pytest.approx(unit(k), abs=1e-12)
        a, b = unit(k - 0.5), unit(k + 0.5)
        assert INT_LOG.from_unit(a + 1e-9) == k and INT_LOG.from_unit(b - 1e-9) == k
        widths.append(b - a)
    assert all(w1 > w2 for w1, w2 in zip(widths, widths[1:]))  # cells shrink as k grows
    assert INT_LOG.from_unit(0.0) == 16 and INT_LOG.from_unit(1.0) == 512


def test_log_int_samples_log_uniformly():
    values = np.array([INT_LOG.from_unit(u) for u in (np.arange(20000) + 0.5) / 20000])
    low_octave = ((values >= 16) & (values < 32)).mean()
    high_octave = ((values >= 256) & (values < 512)).mean()
    assert low_octave == pytest.approx(high_octave, rel=0.05)  # a linear scale would give 16 : 256
    assert low_octave == pytest.approx(1 / 5, rel=0.05)  # five octaves from 16 to 512


def test_stepped_float_to_unit_snaps_to_the_nearest_step():
    assert STEPPED.to_unit(0.6) == pytest.approx(0.5)  # 0.6 is nearest 0.5, the third of five cells
    assert STEPPED.to_unit(0.9) == pytest.approx(0.9)  # 1.0, the last cell
    assert STEPPED.to_unit(-1.0) == pytest.approx(0.1) and STEPPED.to_unit(5.0) == pytest.approx(0.9)


@pytest.mark.parametrize(("p", "n", "values"), [
    (LIN, 0, None), (LR, 0, None),
    (STEPPED, 5, [0.0, 0.25, 0.5, 0.75, 1.0]),
    (FloatParam("q", 0.0, 0.3, step=0.1), 4, [0.0, 0.1, 0.2, 0.3]),  # 0.3 / 0.1 == 2.9999999999999996
    (FloatParam("r", 0.0, 1.0, step=0.3), 4, [0.0, 0.3, 0.6, 0.9]),  # high is not a step away: left out
    (INT, 10, list(range(1, 11))),
    (INT_STEP, 4, [0, 4, 8, 12]),
    (IntParam("s", 0, 10, step=4), 3, [0, 4, 8]),
    (INT_LOG, 497, list(range(16, 513))),
    (CAT, 3, ["sgd", "adam", "rmsprop"]),
    (MIXED, 5, ["a", 1, 2.5, True, None]),
], ids=lambda x: x.name if hasattr(x, "name") else None)
def test_n_values(p, n, values):
    assert p.n_values == n
    if values is not None:
        assert p.values() == values and len(p.values()) == n


@pytest.mark.parametrize(("p", "raw", "expected"), [
    (LIN, "0.5", 0.5), (LIN, 1, 1.0), (LIN, np.float32(0.5), 0.5), (LIN, "-2", -2.0),
    (LIN, 3.0 + 1e-12, 3.0 + 1e-12),  # within rounding of the bound
    (LR, "1e-3", 0.001), (LR, 0.1, 0.1),
    (STEPPED, "0.75", 0.75), (STEPPED, 1, 1.0),
    (INT, "7", 7), (INT, "7.0", 7), (INT, 7.0, 7), (INT, np.int64(3), 3), (INT, 10, 10),
    (INT_STEP, "8", 8),
    (CAT, "adam", "adam"),
    (MIXED, 1, 1), (MIXED, "1", 1), (MIXED, "2.5", 2.5), (MIXED, True, True), (MIXED, "True", True),
    (MIXED, "None", None), (MIXED, None, None),
])
def test_check_accepts(p, raw, expected):
    got = p.check(raw)
    assert got == expected and type(got) is type(expected)


def test_check_prefers_an_exact_type_match():
    # 1 == True and "1" == str(1): the value's own type decides first
    p = CategoricalParam("c", (1, True, "1"))
    assert p.check(True) is True
    assert p.check(1) == 1 and type(p.check(1)) is int
    assert p.check("1") == "1"
    assert len({p.to_unit(1), p.to_unit(True), p.to_unit("1")}) == 3
    nan = CategoricalParam("f", (0.5, float("nan")))
    assert math.isnan(nan.check(float("nan")))


@pytest.mark.parametrize(("p", "raw", "why"), [
    (LIN, 3.5, "outside"), (LIN, -2.1, "outside"), (LIN, "3.5", "outside"), (LIN, float("inf"), "outside"),
    (LIN, "abc", "not a number"), (LIN, True, "not a number"), (LIN, np.True_, "not a number"),
    (LIN, None, "not a number"),
    (LR, 1e-5, "outside"), (LR, 0.2, "outside"),
    (STEPPED, 0.3, "not low + k*step"), (STEPPED, 1.25, "outside"),
    (INT, 7.5, "not an integer"), (INT, "7.5", "not an integer"), (INT, float("nan"), "not an integer"),
    (INT, 0, "outside"), (INT, 11, "outside"), (INT, True, "not a number"), (INT, "seven", "not a number"),
    (INT_STEP, 6, "not low + k*step"), (INT_STEP, 16, "outside"),
    (INT_LOG, 15, "outside"), (INT_LOG, 513, "outside"),
    (CAT, "adagrad", "not one of"), (CAT, None, "not one of"), (MIXED, 2, "not one of"),
])
def test_check_rejects_naming_the_parameter(p, raw, why):
    with pytest.raises(ValueError, match=re.escape(f"parameter '{p.name}'")) as err:
        p.check(raw)
    assert why in str(err.value)


@pytest.mark.parametrize(("make", "why"), [
    (lambda: FloatParam("x", 1.0, 1.0), "must be < high"),
    (lambda: FloatParam("x", 2.0, 1.0), "must be < high"),
    (lambda: FloatParam("x", 0.0, 1.0, log=True), "log scale needs bounds > 0"),
    (lambda: FloatParam("x", 0.0, math.inf), "must be finite"),
    (lambda: FloatParam("x", "0", 1.0), "must be a number"),
    (lambda: FloatParam("x", 0.0, 1.0, step=0.0), "must be > 0"),
    (lambda: FloatParam("x", 1e-3, 1.0, log=True, step=0.1), "cannot be combined"),
    (lambda: IntParam("x", 1, 10, step=0), "must be an integer >= 1"),
    (lambda: IntParam("x", 1.5, 10), "must be an integer"),
    (lambda: IntParam("x", True, 10), "must be a number"),
    (lambda: IntParam("x", 1, 10, log=True, step=2), "log scale needs step=1"),
    (lambda: CategoricalParam("x", ()), "empty"),
    (lambda: CategoricalParam("x", ("a", "b", "a")), "duplicates"),
])
def test_invalid_definitions_name_the_parameter(make, why):
    with pytest.raises(ValueError, match=re.escape("parameter 'x'")) as err:
        make()
    assert why in str(err.value)


def test_int_bounds_given_as_whole_floats_become_ints():
    p = IntParam("n", 1.0, 4.0, step=1.0)
    assert p.values() == [1, 2, 3, 4] and all(type(v) is int for v in p.values())
    assert type(p.from_unit(0.5)) is int
    # the same value under two types is two choices
    assert CategoricalParam("c", (1, 1.0, "1")).n_values == 3


def test_grid_is_evenly_spaced_on_the_parameter_scale():
    assert LR.grid(4) == [0.0001, 0.001, 0.01, 0.1]
    assert LIN.grid(3) == [-2.0, 0.5, 3.0]
    assert STEPPED.grid(None) == STEPPED.values()
    assert INT.grid(None) == list(range(1, 11))
    with pytest.raises(ValueError, match="grid_points"):
        LIN.grid(None)
