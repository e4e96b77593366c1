"""The objective's one owner: every metric with its direction, unknown names refused, directions resolved."""

from __future__ import annotations

import pytest

from pipeline import objective
from pipeline.errors import ConfigError


@pytest.mark.parametrize("name, direction", [("val_accuracy", "maximize"), ("val_loss", "minimize")])
def test_each_metric_has_its_direction(name, direction):
    m = objective.metric(name)
    assert m.direction == direction == objective.direction(name)
    assert m.maximize == (direction == "maximize") and m.sign == (-1.0 if m.maximize else 1.0)


def test_every_known_metric_has_a_direction_test_key_and_curve():
    for name, m in objective.METRICS.items():
        assert m.name == name and m.direction in objective.DIRECTIONS and m.description
        assert m.test_key == "test_" + name.removeprefix("val_") and m.curve_key == f"cv/{name}"


@pytest.mark.parametrize("bad", ["accuracy", "val_error", "", None, "VAL_LOSS"])
def test_unknown_metrics_name_the_known_ones(bad):
    with pytest.raises(ConfigError) as e:
        objective.metric(bad)
    assert f"cv.metric={bad!r}" in str(e.value) and all(n in str(e.value) for n in objective.METRICS)


def test_no_direction_is_guessed_from_a_name():
    """A metric named like a loss but unknown is refused, not minimized."""
    with pytest.raises(ConfigError):
        objective.direction("val_logloss")


@pytest.mark.parametrize("direction, metric, expected", [
    (None, "val_accuracy", "maximize"), ("auto", "val_loss", "minimize"), ("minimize", "val_accuracy", "minimize"),
    ("maximize", None, "maximize"), (None, None, "minimize"), ("auto", None, "minimize"),
])
def test_resolve_direction(direction, metric, expected):
    assert objective.resolve_direction(direction, metric) == expected


def test_resolve_direction_refuses_bad_values():
    with pytest.raises(ConfigError, match="direction='up'"):
        objective.resolve_direction("up", None)
    with pytest.raises(ConfigError, match="cv.metric='val_nope'"):
        objective.resolve_direction(None, "val_nope")


def test_sign_and_is_better():
    assert objective.sign("minimize") == 1.0 and objective.sign("maximize") == -1.0
    assert objective.is_better(0.9, 0.8, "maximize") and not objective.is_better(0.9, 0.8, "minimize")
    assert objective.is_better(0.1, None, "minimize") and not objective.is_better(0.5, 0.5, "maximize")
    with pytest.raises(ValueError):
        objective.sign("sideways")


@pytest.mark.parametrize("task, name, ok", [
    ("classification", "val_f1_macro", True), ("regression", "val_rmse", True), ("regression", "val_loss", True),
    ("regression", "val_accuracy", False), ("classification", "val_r2", False),
])
def test_each_task_reports_its_metrics(task, name, ok):
    if ok:
        assert objective.task_metric(task, name).name == name
        return
    with pytest.raises(ConfigError, match=f"cv.metric='{name}' is not reported by a {task} task; expected one of"):
        objective.task_metric(task, name)


def test_every_task_metric_is_known_and_unknown_tasks_are_refused():
    assert all(name in objective.METRICS for names in objective.TASKS.values() for name in names)
    with pytest.raises(ConfigError, match="task='ranking'"):
        objective.task_metric("ranking", "val_loss")
