"""What a sweep will do: its search space, fixed overrides and options, and each trial's overrides."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from omegaconf import DictConfig, OmegaConf

from pipeline.search import STRATEGIES, SearchSpace
from pipeline.search.grammar import format_value
from pipeline.sweep_tracking import PARENT_TAG, clip_json

DIRECTIONS = ("auto", "minimize", "maximize")
ADAPTIVE = ("bayes",)  # strategies whose next proposals depend on the results of the last batch
BATCHES_PER_WORKER = 4  # non-adaptive strategies launch this many trials per worker at a time
_MISSING = object()


@dataclass
class SweepPlan:
    strategy: str
    space: SearchSpace
    fixed: list[str]
    n_trials: int
    n_jobs: int
    seed: int
    direction: str
    max_failure_rate: float
    command: str
    uri: str | None = None
    experiment: str = "hpo-pipeline"
    name: str = ""
    resume: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    batch_size: int | None = None

    def batch(self, remaining: int) -> int:
        """Trials per launch: ``batch_size`` if set, else ``n_jobs`` for bayes (it learns from every batch)
        and ``4 x n_jobs`` for grid and random, so a parallel launcher's free worker takes the next trial
        instead of idling until the batch's slowest one ends."""
        size = self.batch_size or (self.n_jobs if self.strategy in ADAPTIVE else BATCHES_PER_WORKER * self.n_jobs)
        return min(size, remaining)

    def trial_overrides(self, params: dict[str, Any], number: int, parent_run_id: str | None) -> list[str]:
        """The overrides one trial runs with: fixed ones, its parameters, and how to find its parent run."""
        out = list(self.fixed) + [f"{k}={format_value(v)}" for k, v in params.items()]
        if parent_run_id is not None:
            out += [f"tracking.parent_run_id='{parent_run_id}'", f"tracking.trial_number={number}"]
        return out

    def tags(self) -> dict[str, str]:
        return {PARENT_TAG: self.strategy, "sweep.space": clip_json(self.space.to_grammar()),
                "sweep.fixed": clip_json(self.fixed), "sweep.seed": str(self.seed),
                "sweep.n_trials": str(self.n_trials), "sweep.direction": self.direction,
                "sweep.options": clip_json(self.options), "sweep.command": self.command}

    def params(self) -> dict[str, Any]:
        return {"sweep.strategy": self.strategy, "sweep.n_trials": self.n_trials, "sweep.n_jobs": self.n_jobs,
                "sweep.seed": self.seed, "sweep.direction": self.direction,
                **{f"space.{k}": v for k, v in self.space.to_grammar().items()}}

    def results(self, best: Any, progress: Any, parent_run_id: str | None, status: str) -> dict[str, Any]:
        """The content of ``optimization_results.yaml``."""
        out: dict[str, Any] = {"name": "pipeline_sweeper", "strategy": self.strategy, "direction": self.direction,
                               "status": status, "parent_run_id": parent_run_id,
                               "n_trials": {s: progress.count(s) for s in ("complete", "pruned", "failed")}}
        if best is not None:
            best_overrides = list(self.fixed) + [f"{k}={format_value(v)}" for k, v in best.params.items()]
            out.update(best_value=best.value, best_params=dict(best.params), best_trial=best.number,
                       best_run_id=best.run_id, best_command="python train.py " + " ".join(best_overrides))
        return out


def parse_arguments(overrides: list[Any]) -> tuple[dict[str, str], list[str]]:
    """Split parsed command-line overrides into sweep expressions and fixed overrides."""
    space, fixed = {}, []
    for o in overrides:
        key = o.get_key_element()
        if o.is_sweep_override():
            space[key] = o.input_line.split("=", 1)[1]
        else:
            fixed.append(o.input_line)
    return space, fixed


def build_plan(conf: dict[str, Any], config: DictConfig, cli_space: dict[str, str], cli_fixed: list[str],
               command: str) -> SweepPlan:
    """Command line wins over ``hydra.sweeper.params``; with neither, ``default_params`` is searched."""
    from pipeline.tracking import check_reachable, resolve_tracking_uri

    uri = resolve_tracking_uri(config.tracking.uri) if "tracking" in config else None
    if uri is not None:
        check_reachable(uri)
    if conf.get("resume"):
        return _resumed_plan(conf, config, uri, command)
    grammar = {**(conf.get("params") or {}), **cli_space} or dict(conf.get("default_params") or {})
    fixed_keys = {f.split("=", 1)[0].lstrip("+~") for f in cli_fixed}
    grammar = {k: v for k, v in grammar.items() if k.lstrip("+") not in fixed_keys}
    space = SearchSpace.from_grammar(grammar)
    fixed = cli_fixed + [f"{k}={format_value(v)}" for k, v in space.fixed.items()] + _pruning(conf, config)
    space = SearchSpace(space.params)
    strategy = _check_strategy(conf.get("strategy", "random"))
    return SweepPlan(strategy, space, fixed, _positive("n_trials", conf.get("n_trials", 20)),
                     _positive("n_jobs", conf.get("n_jobs", 1)), int(conf.get("seed", 0)),
                     _direction(conf.get("direction", "auto"), config), _rate(conf.get("max_failure_rate", 0.5)),
                     command, uri, _experiment(config), conf.get("name") or
                     f"{strategy}-sweep-{time.strftime('%Y%m%d-%H%M%S')}", None, _options(conf, strategy),
                     _batch_size(conf))


def _resumed_plan(conf: dict[str, Any], config: DictConfig, uri: str | None, command: str) -> SweepPlan:
    """Everything but ``n_jobs`` and ``batch_size`` comes from the interrupted sweep's parent run."""
    from pipeline.tracking import get_client

    if uri is None:
        raise ValueError("hydra.sweeper.resume needs MLflow tracking (a 'tracking' section in the config)")
    run_id = str(conf["resume"])
    try:
        tags = get_client(uri).get_run(run_id).data.tags
    except Exception as e:
        raise ValueError(f"hydra.sweeper.resume={run_id!r}: no such run in {uri} ({type(e).__name__})") from None
    if PARENT_TAG not in tags or tags[PARENT_TAG] == "basic":
        raise ValueError(f"hydra.sweeper.resume={run_id!r} is not the parent run of a grid/random/bayes sweep")
    space = SearchSpace.from_grammar(json.loads(tags["sweep.space"]))
    return SweepPlan(tags[PARENT_TAG], space, json.loads(tags["sweep.fixed"]), int(tags["sweep.n_trials"]),
                     _positive("n_jobs", conf.get("n_jobs", 1)), int(tags["sweep.seed"]), tags["sweep.direction"],
                     _rate(conf.get("max_failure_rate", 0.5)), command, uri, _experiment(config), "",
                     run_id, json.loads(tags.get("sweep.options", "{}")), _batch_size(conf))


def _batch_size(conf: dict[str, Any]) -> int | None:
    value = conf.get("batch_size")
    return None if value is None else _positive("batch_size", value)


class ConditionalParams:
    """Drops parameters that the trial's chosen config groups do not have (e.g. ``model.channels`` for an MLP).

    Which keys exist is learnt by composing the config once per combination of group choices.
    """

    def __init__(self, hydra_context: Any, config: DictConfig, plan: SweepPlan) -> None:
        self.loader = hydra_context.config_loader
        self.config, self.plan = config, plan
        self.groups = {p.name for p in plan.space.params if self._is_group(p.name)}
        self._cache: dict[tuple, DictConfig] = {}

    def _is_group(self, name: str) -> bool:
        return "." not in name and name.lstrip("+") in self.loader.list_groups("")

    def active(self, params: dict[str, Any]) -> dict[str, Any]:
        if not self.groups:
            return params
        choice = tuple(sorted((g, str(params[g])) for g in self.groups if g in params))
        if choice not in self._cache:
            overrides = list(self.plan.fixed) + [f"{g}={v}" for g, v in choice]
            self._cache[choice] = self.loader.load_sweep_config(self.config, overrides)
        cfg = self._cache[choice]
        return {k: v for k, v in params.items() if k in self.groups or k.startswith("+")
                or OmegaConf.select(cfg, k, default=_MISSING) is not _MISSING}


def _pruning(conf: dict[str, Any], config: DictConfig) -> list[str]:
    """The sweeper's pruning options, passed to every trial as overrides of its ``pruning`` section."""
    from hydra_plugins.pipeline_sweeper.config import PRUNER_OPTIONS
    from pipeline.pruning.reporter import PRUNERS

    pruner = conf.get("pruner", "none")
    if pruner not in PRUNERS:
        raise ValueError(f"hydra.sweeper.pruner={pruner!r} is unknown; expected one of {PRUNERS}")
    if pruner == "none":
        return []
    if "pruning" not in config:
        raise ValueError("hydra.sweeper.pruner needs a 'pruning' section in the task's config")
    return [f"pruning.{k}={conf[k]}" for k in PRUNER_OPTIONS if conf.get(k) is not None]


def _experiment(config: DictConfig) -> str:
    return str(config.tracking.experiment) if "tracking" in config else "hpo-pipeline"


def _options(conf: dict[str, Any], strategy: str) -> dict[str, Any]:
    from hydra_plugins.pipeline_sweeper.config import STRATEGY_OPTIONS

    return {k: conf[k] for k in STRATEGY_OPTIONS[strategy] if k in conf}


def _check_strategy(strategy: str) -> str:
    if strategy not in STRATEGIES:
        raise ValueError(f"hydra.sweeper.strategy={strategy!r} is unknown; expected one of {STRATEGIES}")
    return strategy


def _direction(direction: str, config: DictConfig) -> str:
    """``auto``: maximize an accuracy-like ``cv.metric``, minimize a loss (or when there is no cv section)."""
    if direction not in DIRECTIONS:
        raise ValueError(f"hydra.sweeper.direction={direction!r} is invalid; expected one of {DIRECTIONS}")
    if direction != "auto":
        return direction
    metric = str(OmegaConf.select(config, "cv.metric", default="loss"))
    return "minimize" if "loss" in metric or "error" in metric else "maximize"


def _positive(name: str, value: Any) -> int:
    if not isinstance(value, int) or value < 1:
        raise ValueError(f"hydra.sweeper.{name}={value!r} is invalid; expected an integer >= 1")
    return value


def _rate(value: Any) -> float:
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"hydra.sweeper.max_failure_rate={value!r} is invalid; expected a number in [0, 1]")
    return float(value)
