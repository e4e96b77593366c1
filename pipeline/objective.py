"""The objective a trial is judged on: the metrics a trial can report, which way each is better, and
the keys under which the objective is logged.

This is the one owner of those facts. The trial, the sweeper, the pruner, the report and the registry
ask here; nothing guesses a direction from a metric's name. It imports nothing heavy (no torch, no
MLflow), so the sweeper can use it without touching the trial's training code.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.errors import ConfigError

MINIMIZE, MAXIMIZE = "minimize", "maximize"
DIRECTIONS = (MINIMIZE, MAXIMIZE)

# Summary metrics of a trial's run: the objective (mean over folds of ``cv.metric`` at each fold's best
# epoch), its standard deviation over folds, and the last intermediate value of a pruned trial.
OBJECTIVE_KEY = "cv_mean"
OBJECTIVE_STD_KEY = "cv_std"
PRUNED_VALUE_KEY = "pruned_value"
# The trial protocol, what a trial returns to the sweeper: {"value": <objective>, "run_id": <its MLflow run>}, or
# {"pruned": True, "value": <last intermediate value>, "run_id": ...}; an exception that ends a trial whose run
# exists carries the run's id as its attribute ``run_id``.
RETURN_PRUNED, RETURN_VALUE, RETURN_RUN_ID = "pruned", "value", "run_id"
CURVE_PREFIX = "cv/"  # the fold-averaged per-epoch curve of a metric: cv/val_loss


@dataclass(frozen=True)
class Metric:
    """A per-epoch validation metric a trial can be judged on."""

    name: str
    direction: str  # minimize | maximize
    description: str

    @property
    def maximize(self) -> bool:
        return self.direction == MAXIMIZE

    @property
    def sign(self) -> float:
        """+1 to minimize, -1 to maximize: ``sign * value`` is smaller for better values."""
        return sign(self.direction)

    @property
    def test_key(self) -> str:
        """The summary metric of the same quantity on the held-out test split: ``val_x`` -> ``test_x``."""
        return "test_" + self.name.removeprefix("val_")

    @property
    def curve_key(self) -> str:
        """The fold-averaged per-epoch curve of this metric."""
        return curve_key(self.name)

    @property
    def cv_mean_key(self) -> str:
        """The summary metric of its cross-validated mean (the objective's value under its own name)."""
        return f"cv_{self.name}_mean"

    @property
    def cv_std_key(self) -> str:
        return f"cv_{self.name}_std"

    @property
    def plateau_mode(self) -> str:
        """``ReduceLROnPlateau``'s mode for this metric: the scheduler works with the objective, not against it."""
        return "max" if self.maximize else "min"


def curve_key(name: str) -> str:
    """The fold-averaged per-epoch curve of the per-epoch value ``name`` (a metric, ``train_loss``, ``lr``)."""
    return CURVE_PREFIX + name


METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("val_loss", MINIMIZE, "classification: mean cross-entropy (no label smoothing); regression: mean "
                                 "squared error, in the targets' units"),
    Metric("val_accuracy", MAXIMIZE, "share of validation samples classified correctly"),
    Metric("val_f1_macro", MAXIMIZE, "F1 score averaged over classes, each class counting the same"),
    Metric("val_rmse", MINIMIZE, "root mean squared error, in the targets' units"),
    Metric("val_mae", MINIMIZE, "mean absolute error, in the targets' units"),
    Metric("val_r2", MAXIMIZE, "coefficient of determination (1 - SSE / SST), averaged over targets"),
)}
# What each task reports every epoch (and, as test_*, once on the held-out split).
TASKS: dict[str, tuple[str, ...]] = {
    "classification": ("val_loss", "val_accuracy", "val_f1_macro"),
    "regression": ("val_loss", "val_rmse", "val_mae", "val_r2"),
}


def metric(name: str) -> Metric:
    """The metric called ``name``; a ``ConfigError`` naming the known ones when there is none."""
    try:
        return METRICS[name]
    except (KeyError, TypeError):
        raise ConfigError(f"cv.metric={name!r} is unknown; expected one of {tuple(METRICS)}") from None


def task_metric(task: str, name: str) -> Metric:
    """``metric(name)``, checked to be one that ``task`` reports."""
    if task not in TASKS:
        raise ConfigError(f"task={task!r} is unknown; expected one of {tuple(TASKS)}")
    found = metric(name)
    if name not in TASKS[task]:
        raise ConfigError(f"cv.metric={name!r} is not reported by a {task} task; expected one of {TASKS[task]}")
    return found


def direction(name: str) -> str:
    """``minimize`` or ``maximize`` for the metric called ``name``."""
    return metric(name).direction


def resolve_direction(direction: str | None, metric_name: str | None) -> str:
    """A sweep's direction: ``direction`` when set (``auto`` and None are unset), else the direction of
    ``metric_name`` when given, else minimize (what Hydra's own sweepers do by default)."""
    if direction not in (None, "auto"):
        if direction not in DIRECTIONS:
            raise ConfigError(f"direction={direction!r} is invalid; expected auto or one of {DIRECTIONS}")
        return direction
    return MINIMIZE if metric_name is None else metric(metric_name).direction


def sign(direction: str) -> float:
    """+1 for ``minimize``, -1 for ``maximize``: ``sign * value`` is smaller for better values."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction={direction!r} is invalid; expected one of {DIRECTIONS}")
    return 1.0 if direction == MINIMIZE else -1.0


def is_better(value: float, than: float | None, direction: str) -> bool:
    """Whether ``value`` beats ``than`` (None: nothing to beat) in ``direction``."""
    return than is None or sign(direction) * value < sign(direction) * than
