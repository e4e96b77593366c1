from __future__ import annotations

import math

import pytest

from pipeline.errors import ConfigError
from pipeline.optim import lr_factor


def test_cosine_schedule_starts_at_one_and_decays():
    f = [lr_factor(e, 10, "cosine") for e in range(10)]
    assert f[0] == 1.0 and all(a > b for a, b in zip(f, f[1:])) and f[-1] > 0
    assert lr_factor(5, 10, "cosine") == pytest.approx(0.5)


def test_step_schedule():
    assert [lr_factor(e, 30, "step", step_size=10, gamma=0.1) for e in (0, 9, 10, 25)] == pytest.approx(
        [1, 1, 0.1, 0.01])
    assert lr_factor(7, 30, "none") == 1.0


def test_unknown_scheduler():
    with pytest.raises(ConfigError, match="'linear'"):
        lr_factor(0, 10, "linear")
    assert math.isfinite(lr_factor(0, 0, "cosine"))
