"""The sweeper's options and command line, read and checked: each value the user gave is taken or refused here
with one line naming it (``hydra.sweeper.<key>=<value>``) and what was expected. Unset options (None) mean
"the default of the code that uses them", and that default is written here once, or in the optimizers."""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import urlparse

from omegaconf import DictConfig, OmegaConf

from pipeline import objective
from pipeline.search import STRATEGIES
from pipeline.tracking.names import NUMBER_KEY, PARENT_KEY

log = logging.getLogger(__name__)

DEFAULT_N_TRIALS = 20
WHOLE_GRID = 2**62  # grid's default n_trials: the whole grid (cut to its size when the optimizer is made)
DEFAULT_MAX_FAILURE_RATE = 0.5
DEFAULT_REPORT_EVERY = 60.0  # seconds: a sweep shorter than this has its final report only
DEFAULT_EXPERIMENT = "hpo-pipeline"
# Options of each strategy, passed to its optimizer only when set (pipeline.search.make_optimizer).
STRATEGY_OPTIONS = {"grid": ("grid_points", "shuffle"), "random": ("sampler",),
                    "bayes": ("n_initial", "acquisition", "ucb_beta", "warping"),
                    "evolution": ("population", "sample_size")}
PRUNER_OPTIONS = ("pruner", "n_startup_trials", "n_warmup_steps", "min_resource", "reduction_factor",
                  "min_early_stopping_rate")
MISSING = object()
_GRAMMAR = re.compile(r"^\s*(tag\(.*\)|(int|float)\(.*\)|choice\(.*\)|range\(.*\)|interval\(.*\))\s*$")


def parse_arguments(overrides: list[Any]) -> tuple[dict[str, str], list[str]]:
    """Split parsed command-line overrides into sweep expressions and fixed overrides."""
    space, fixed = {}, []
    for o in overrides:
        key = o.get_key_element()
        if o.is_sweep_override() or _quoted_grammar(o):
            space[key] = o.input_line.split("=", 1)[1]
            if not o.is_sweep_override():  # 'int(interval(32,512))': quoted, so Hydra saw a string
                space[key] = o.value()
                log.info("%s: a quoted search expression, searched as %s", o.input_line, space[key])
        else:
            fixed.append(o.input_line)
    return space, fixed


def _quoted_grammar(override: Any) -> bool:
    """A quoted value that is a search expression (``'interval(1e-4, 0.1)'``): Hydra passes it as a string,
    which no trial would take; the user meant the expression, as in ``hydra.sweeper.params``."""
    value = override.value()
    return isinstance(value, str) and override.input_line.split("=", 1)[1][:1] in "'\"" and bool(_GRAMMAR.match(value))


def records_itself(config: DictConfig) -> bool:
    """Whether the task follows the trial protocol (it has ``tracking.parent_run_id`` and ``tracking.trial_number``)
    and so logs its own child run; for any other app the sweeper writes each trial's run itself."""
    return all(OmegaConf.select(config, k, default=MISSING) is not MISSING for k in (PARENT_KEY, NUMBER_KEY))


def experiment(conf: dict[str, Any], config: DictConfig) -> str:
    """``hydra.sweeper.experiment``, else the task's ``tracking.experiment``, else the Hydra job's name."""
    for key in ("experiment", "model_name"):
        if conf.get(key) is not None and not str(conf[key]).strip():
            raise ValueError(f"hydra.sweeper.{key}={conf[key]!r} is invalid; expected a non-empty name, or null")
    found = conf.get("experiment") or OmegaConf.select(config, "tracking.experiment", default=None)
    return str(found or OmegaConf.select(config, "hydra.job.name", default=None) or DEFAULT_EXPERIMENT)


def strategy_options(conf: dict[str, Any], strategy: str) -> dict[str, Any]:
    """The strategy's options the user set; unset ones keep the optimizer's defaults. An option of another
    strategy is refused: it would change nothing."""
    for other, keys in STRATEGY_OPTIONS.items():
        for key in keys:
            if other != strategy and key not in STRATEGY_OPTIONS[strategy] and conf.get(key) is not None:
                raise ValueError(f"hydra.sweeper.{key}={conf[key]!r} is an option of {other}, and this sweep's "
                                 f"strategy is {strategy}: expected hydra/sweeper={other}, or one of {strategy}'s "
                                 f"options ({', '.join(STRATEGY_OPTIONS[strategy])})")
    return {k: conf[k] for k in STRATEGY_OPTIONS[strategy] if conf.get(k) is not None}


def pruning_overrides(conf: dict[str, Any], config: DictConfig, goals: objective.Objectives | None = None
                      ) -> list[str]:
    """The sweeper's pruning options, passed to every trial as overrides of its ``pruning`` section; with several
    objectives, which they are (``pruning.objectives``): the pruner compares a trial on all of them."""
    from pipeline.pruning.rules import MINIMUMS, MULTI_PRUNERS, PRUNERS

    several = []
    if goals is not None and goals.multi and records_itself(config) and \
            OmegaConf.select(config, "pruning", default=None) is not None:
        effective = conf.get("pruner") or OmegaConf.select(config, "pruning.pruner", default="none")
        several = [f"pruning.objectives=[{','.join(goals.names)}]"] if effective != "none" else []
        if effective not in MULTI_PRUNERS:
            raise ValueError(f"hydra.sweeper.pruner={effective!r} compares one objective, and this sweep has "
                             f"{len(goals.names)}; expected one of {MULTI_PRUNERS} (median prunes a trial "
                             "dominated by half of the completed ones)")
    pruner = conf.get("pruner") or "none"
    if pruner not in PRUNERS:
        raise ValueError(f"hydra.sweeper.pruner={pruner!r} is unknown; expected one of {PRUNERS}")
    for key, low in MINIMUMS.items():
        if conf.get(key) is not None and conf[key] < low:
            raise ValueError(f"hydra.sweeper.{key}={conf[key]!r} is invalid; expected an integer >= {low}")
    if pruner == "none":
        return several
    if "pruning" not in config:
        raise ValueError("hydra.sweeper.pruner needs a 'pruning' section in the task's config")
    return [f"pruning.{k}={conf[k]}" for k in PRUNER_OPTIONS if conf.get(k) is not None] + several


def goals(conf: dict[str, Any], config: DictConfig, records_itself: bool) -> objective.Objectives:
    """``hydra.sweeper.objective`` and ``direction`` checked: a list of objectives with one direction each (or each
    known one); for this project's trials, names it returns (``objective.trial_values``: a metric's cross-validated
    mean, a cost) or none (the objective of ``cv.metric``)."""
    metric = OmegaConf.select(config, "cv.metric", default=None)
    try:
        goals = objective.parse_objectives(conf.get("objective"), conf.get("direction"), metric)
    except ValueError as e:
        raise ValueError(str(e)) from None
    if records_itself:
        if goals.multi and not goals.names:
            raise ValueError(f"hydra.sweeper.direction={list(goals.directions)} has {len(goals.directions)} directions "
                             "and hydra.sweeper.objective names no values; expected a list of objectives beside them "
                             "(hydra.sweeper.objective=[val_accuracy,n_params]), or one direction")
        for name in goals.names:
            _check_returned("objective", name, config)
    return goals


def _check_returned(key: str, name: str, config: DictConfig, text: str | None = None) -> None:
    """``name`` is a value this project's trials return (any task's metric, or a cost)."""
    known = (*objective.METRICS, *objective.COSTS)
    if name not in known:
        raise ValueError(f"hydra.sweeper.{key}={text or name!r} names {name!r}, which this app's trials do not "
                         f"return; expected one of {list(known)}")


def limits(conf: dict[str, Any], config: DictConfig, records_itself: bool) -> tuple[objective.Constraint, ...]:
    """``hydra.sweeper.constraints`` checked: ``NAME<=LIMIT`` items on values the trials return."""
    found = objective.parse_constraints(conf.get("constraints"))
    if records_itself:
        for c in found:
            _check_returned("constraints", c.name, config, str(c))
    return found


def selection(conf: dict[str, Any], goals: objective.Objectives, config: DictConfig,
              records_itself: bool) -> objective.Selection:
    """``hydra.sweeper.select`` checked (only meaningful with several objectives)."""
    if conf.get("select") is not None and not goals.multi:
        raise ValueError(f"hydra.sweeper.select={conf['select']!r} is for several objectives, and this sweep has "
                         f"one; expected it unset, or a list in hydra.sweeper.objective")
    chosen = objective.parse_selection(conf.get("select"), goals)
    if records_itself:
        for c in chosen.where:
            _check_returned("select", c.name, config, str(chosen))
    return chosen


def reference_point(value: Any, goals: objective.Objectives) -> tuple[float, ...] | None:
    """``hydra.sweeper.reference_point``: one finite number per objective, in its own units."""
    if value is None:
        return None
    items = list(value) if isinstance(value, (list, tuple)) or type(value).__name__ == "ListConfig" else [value]
    ok = len(items) == len(goals.directions) and goals.multi
    try:
        out = tuple(float(v) for v in items)
    except (TypeError, ValueError):
        ok = False
    if not ok or not all(v == v and abs(v) != float("inf") for v in out):
        raise ValueError(f"hydra.sweeper.reference_point={value!r} is invalid; expected {len(goals.directions)} "
                         f"finite numbers, one per objective {list(goals.labels)}" if goals.multi else
                         f"hydra.sweeper.reference_point={value!r} is for several objectives, and this sweep has one; "
                         "expected it unset")
    return out


def check_grid(strategy_name: str, space: Any, conf: dict[str, Any], command_space: dict[str, str]) -> None:
    """A grid runs what the command line or ``hydra.sweeper.params`` name; an app with a default space to search
    (``default_params``) that names none meant a search, not one trial of its defaults."""
    if strategy_name == "grid" and not space.dim and conf.get("default_params") and not (conf.get("params") or
                                                                                        command_space):
        raise ValueError("hydra/sweeper=grid names no grid: expected the values to run, on the command line "
                         "(optimizer=adam,sgd model.num_layers=1,2) or in hydra.sweeper.params; random and bayes "
                         "search the default space")


def warn_direction(direction_name: str, config: DictConfig) -> None:
    """A direction against the task's own metric is valid (a user may mean it) but suspicious: one line."""
    metric = OmegaConf.select(config, "cv.metric", default=None)
    if metric in objective.METRICS and objective.metric(metric).direction != direction_name:
        log.warning("hydra.sweeper.direction=%s but cv.metric=%s is better %s: the sweep will look for its worst "
                    "trials; leave hydra.sweeper.direction unset to follow the metric", direction_name, metric,
                    "higher" if objective.metric(metric).maximize else "lower")


def check_alias(alias: Any) -> None:
    """``hydra.sweeper.model_alias``: a name MLflow's registry takes (letters, digits, ``_`` and ``-``; neither
    ``latest`` nor a version's ``v1``), checked now rather than when the sweep ends."""
    if alias is None:
        return
    text = str(alias)
    if not re.fullmatch(r"[\w\-]+", text) or text.lower() == "latest" or re.fullmatch(r"[vV]\d+", text):
        raise ValueError(f"hydra.sweeper.model_alias={alias!r} is invalid; expected letters, digits, _ and -, not "
                         "latest nor a version's name (v1)")


def strategy(value: Any) -> str:
    if value not in STRATEGIES:
        raise ValueError(f"hydra.sweeper.strategy={value!r} is unknown; expected one of {STRATEGIES}")
    return value


def n_trials(value: Any, strategy_name: str) -> int:
    return positive("n_trials", or_default(value, WHOLE_GRID if strategy_name == "grid" else DEFAULT_N_TRIALS))


def or_default(value: Any, default: Any) -> Any:
    return default if value is None else value


def seed(value: Any) -> int:
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"hydra.sweeper.seed={value!r} is invalid; expected an integer")
    return value


def positive(name: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"hydra.sweeper.{name}={value!r} is invalid; expected an integer >= 1")
    return value


def batch_size(conf: dict[str, Any]) -> int | None:
    value = conf.get("batch_size")
    return None if value is None else positive("batch_size", value)


def ui_url(value: Any) -> str | None:
    """``hydra.sweeper.ui_url``: an MLflow UI's address, ``http(s)://host:port``."""
    if value is None:
        return None
    parsed = urlparse(str(value))
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError(f"hydra.sweeper.ui_url={value!r} is invalid; expected the MLflow UI's address, "
                         "http(s)://host:port")
    return str(value).rstrip("/")


def report_every(value: Any) -> float:
    value = or_default(value, DEFAULT_REPORT_EVERY)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
        raise ValueError(f"hydra.sweeper.report_every={value!r} is invalid; expected a number of seconds >= 0")
    return float(value)


def failure_rate(value: Any) -> float:
    value = or_default(value, DEFAULT_MAX_FAILURE_RATE)
    try:
        ok = 0.0 <= float(value) <= 1.0
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"hydra.sweeper.max_failure_rate={value!r} is invalid; expected a number in [0, 1]")
    return float(value)
