"""The objective a trial is judged on: the metrics a trial can report, which way each is better, and
the keys under which the objective is logged.

This is the one owner of those facts. The trial, the sweeper, the pruner, the report and the registry
ask here; nothing guesses a direction from a metric's name. It imports nothing heavy (no torch, no
MLflow), so the sweeper can use it without touching the trial's training code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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


# -- several objectives, costs and constraints ---------------------------------------------------------------
@dataclass(frozen=True)
class Cost:
    """A figure every trial measures besides its metrics; smaller is better. Usable as an objective or in a
    constraint, and logged as a metric of the trial's run under its name."""

    name: str
    description: str
    direction: str = MINIMIZE
    log_scale: bool = False  # a count spanning decades, compared by ratio: ``bayes`` models its log as an objective


COSTS: dict[str, Cost] = {c.name: c for c in (
    Cost("n_params", "trainable parameters of the model", log_scale=True),
    Cost("flops", "floating-point operations of one forward pass, per sample (torch.utils.flop_counter)",
         log_scale=True),
    Cost("latency_ms", "inference time per sample of the refit model, warm, median of repeats, in ms; the device "
                       "and batch size are the run's tags cost.device and cost.batch_size"),
    Cost("train_seconds", "wall time of the cross-validation and the refit, in s"),
    Cost("peak_memory_mb", "peak memory while training, in MB: CUDA's max allocated on a GPU, else the "
                           "process's peak resident set (tag cost.memory says which)"),
)}
CONSTRAINT_OPS = ("<=", ">=", "<", ">")


def log_scaled(name: str) -> bool:
    """Whether a value this project's trials return under ``name`` is a count best compared on a log scale."""
    return name in COSTS and COSTS[name].log_scale


def known_direction(name: str) -> str | None:
    """The direction of a value a trial of this project returns under ``name`` (a metric or a cost); None when
    ``name`` is neither."""
    if name in METRICS:
        return METRICS[name].direction
    return COSTS[name].direction if name in COSTS else None


def run_key(name: str, trial_protocol: bool) -> str:
    """The metric of a trial's run that holds the value returned under ``name``: a trial of this project (the
    trial protocol) logs a metric's cross-validated mean as ``cv_<metric>_mean`` and a cost under its name; the
    sweeper logs what any other app returns under the name it was returned with."""
    return METRICS[name].cv_mean_key if trial_protocol and name in METRICS else name


def trial_values(task: str) -> tuple[str, ...]:
    """The names a trial of ``task`` returns a value under (its metrics' cross-validated means, its costs): what
    ``hydra.sweeper.objective``, ``constraints`` and ``select`` may name."""
    return (*TASKS[task], *COSTS)


@dataclass(frozen=True)
class Objectives:
    """What a sweep optimizes: the names of its values (``()``: the one value of the trial protocol or of a task
    returning a number) and the direction of each."""

    names: tuple[str, ...]
    directions: tuple[str, ...]

    @property
    def multi(self) -> bool:
        return len(self.directions) > 1

    @property
    def labels(self) -> tuple[str, ...]:
        """A name for each value: its key, or ``value`` / ``value_<i>`` for unnamed ones."""
        if self.names:
            return self.names
        return ("value",) if len(self.directions) == 1 else tuple(f"value_{i}" for i in range(len(self.directions)))

    def signs(self) -> tuple[float, ...]:
        return tuple(sign(d) for d in self.directions)


def parse_objectives(objective: Any, direction: Any, metric_name: str | None = None) -> Objectives:
    """``hydra.sweeper.objective`` (None, a key, or a list of keys) and ``hydra.sweeper.direction`` (None/auto,
    a word, or a list of words, one per objective) as ``Objectives``. An unset direction is the known direction
    of each named value (``known_direction``), else that of ``metric_name`` for the one unnamed value."""
    names = _names("hydra.sweeper.objective", objective)
    words = _names("hydra.sweeper.direction", direction, distinct=False)
    for w in words:
        if w not in (*DIRECTIONS, "auto"):
            raise ConfigError(f"hydra.sweeper.direction={w!r} is invalid; expected auto, minimize or maximize, or a "
                              "list of them, one per objective")
    if len(names) > 1 and len(words) > 1 and len(words) != len(names):
        raise ConfigError(f"hydra.sweeper.direction={list(words)} has {len(words)} directions for {len(names)} "
                          f"objectives {list(names)}; expected one per objective")
    if len(names) <= 1 and len(words) > 1:  # a task returning a sequence: one direction per value
        if names:
            raise ConfigError(f"hydra.sweeper.direction={list(words)} has {len(words)} directions for the one "
                              f"objective {names[0]!r}; expected one direction, or a list of objectives")
        return Objectives((), tuple(w if w != "auto" else MINIMIZE for w in words))
    if not names:
        return Objectives((), (resolve_direction(words[0] if words else None, metric_name),))
    out = []
    for i, name in enumerate(names):
        word = words[i] if len(words) > 1 else (words[0] if words else "auto")
        if word == "auto" and len(names) > 1:
            word = known_direction(name) or ""
            if not word:
                raise ConfigError(f"hydra.sweeper.objective={name!r} has no known direction; expected "
                                  "hydra.sweeper.direction as a list of minimize|maximize, one per objective")
        out.append(word if word != "auto" else (known_direction(name) or resolve_direction(None, metric_name)))
    return Objectives(names, tuple(out))


def _names(key: str, value: Any, distinct: bool = True) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (list, tuple)) or type(value).__name__ == "ListConfig":
        items = tuple(value)
        if not items or not all(isinstance(v, str) and v for v in items):
            raise ConfigError(f"{key}={list(items)!r} is invalid; expected a non-empty list of names")
        if distinct and len(set(items)) != len(items):
            raise ConfigError(f"{key}={list(items)!r} names a value twice; expected distinct names")
        return items
    raise ConfigError(f"{key}={value!r} is invalid; expected a name or a list of names")


@dataclass(frozen=True)
class Constraint:
    """A limit on a value a trial returns: ``n_params<=50000``. Its violation (``violation``) is how far the value
    is past the limit, <= 0 when met; a strict ``<`` is met at the limit too (values are measured, not exact)."""

    name: str
    op: str
    limit: float

    def violation(self, value: float) -> float:
        return value - self.limit if self.op in ("<=", "<") else self.limit - value

    def met(self, value: float) -> bool:
        return self.violation(value) <= 0

    def __str__(self) -> str:
        return f"{self.name}{self.op}{self.limit:g}"


def parse_constraint(text: Any, key: str = "hydra.sweeper.constraints") -> Constraint:
    """``NAME<=LIMIT`` (or ``>=``, ``<``, ``>``) as a ``Constraint``; a ``ConfigError`` naming ``text`` otherwise."""
    import re

    m = re.fullmatch(r"\s*([A-Za-z_][\w./-]*)\s*(<=|>=|<|>)\s*([-+0-9.eE_]+)\s*", str(text)) if isinstance(
        text, str) else None
    try:
        limit = float(m.group(3)) if m else float("nan")
    except ValueError:
        limit = float("nan")
    if m is None or limit != limit or limit in (float("inf"), float("-inf")):
        raise ConfigError(f"{key} item {text!r} is invalid; expected NAME<=LIMIT or NAME>=LIMIT with a finite "
                          "number, e.g. n_params<=50000")
    return Constraint(m.group(1), m.group(2), limit)


def parse_constraints(value: Any, key: str = "hydra.sweeper.constraints") -> tuple[Constraint, ...]:
    """A list of constraints (or one, or None); the same name twice with the same operator is refused."""
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else list(value)
    out = tuple(parse_constraint(v, key) for v in items)
    seen = [(c.name, c.op.rstrip("=")) for c in out]
    if len(set(seen)) != len(seen):
        raise ConfigError(f"{key}={[str(c) for c in out]} limits a value twice in one direction; expected one "
                          "limit per value and direction")
    return out


@dataclass(frozen=True)
class Selection:
    """``hydra.sweeper.select``: which trial of a multi-objective front is *the* best (the one ``@champion``
    follows): the best ``name`` among feasible trials meeting ``where`` too."""

    name: str
    direction: str
    where: tuple[Constraint, ...] = ()

    def __str__(self) -> str:
        return self.name + (" where " + " and ".join(map(str, self.where)) if self.where else "")


def parse_selection(text: Any, objectives: Objectives) -> Selection:
    """``NAME`` or ``NAME where C and C...`` (``C`` as in constraints); None picks the first objective. ``NAME``
    must be an objective, or a value with a known direction."""
    labels = objectives.labels
    if text is None:
        return Selection(labels[0], objectives.directions[0])
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"hydra.sweeper.select={text!r} is invalid; expected NAME or 'NAME where LIMIT and ...', "
                          f"NAME one of {list(labels)}")
    head, _, tail = text.partition(" where ")
    name = head.strip()
    if name in labels:
        d = objectives.directions[labels.index(name)]
    elif known_direction(name):
        d = known_direction(name)
    else:
        raise ConfigError(f"hydra.sweeper.select={text!r} selects by {name!r}, which is not an objective; expected "
                          f"one of {list(labels)}")
    where = tuple(parse_constraint(c, "hydra.sweeper.select") for c in tail.split(" and ")) if tail.strip() else ()
    return Selection(name, d, where)
