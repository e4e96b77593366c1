"""What a sweep will do: its search space, fixed overrides and options, and each trial's overrides.

The plan is built once, before anything is launched or written (``build_plan``), from the sweeper's
options, the command line and the task's config; a resumed sweep takes it from its parent run instead
(``resumed_plan``). Options left unset (None) mean "the default of the code that uses them": the
optimizers' own defaults apply unless the user sets a value.
"""

from __future__ import annotations

import json
import logging
import re
import shlex
import time
from dataclasses import dataclass, field
from typing import Any

from omegaconf import DictConfig, OmegaConf

from pipeline import objective
from pipeline.search import STRATEGIES, SearchSpace, make_optimizer
from pipeline.search.grammar import format_value
from pipeline.tracking import names as rr
from pipeline.tracking.names import OBJECTIVE_KEY_TAG, SWEEP_TAG
from pipeline.tracking.sweep_run import clip_json

log = logging.getLogger(__name__)
ADAPTIVE = ("bayes",)  # strategies whose next proposals depend on the results of the last batch
DEFAULT_N_TRIALS = 20
WHOLE_GRID = 2**62  # grid's default n_trials: the whole grid (cut to its size when the optimizer is made)
DEFAULT_MAX_FAILURE_RATE = 0.5
DEFAULT_REPORT_EVERY = 60.0  # seconds: a sweep shorter than this has its final report only
DEFAULT_EXPERIMENT = "hpo-pipeline"
VALUE_KEY = "value"  # the child metric holding a foreign app's returned value (unless hydra.sweeper.objective)
# Options of each strategy, passed to its optimizer only when set (pipeline.search.make_optimizer).
STRATEGY_OPTIONS = {"grid": ("grid_points", "shuffle"), "random": ("sampler",),
                    "bayes": ("n_initial", "acquisition", "ucb_beta", "warping")}
PRUNER_OPTIONS = ("pruner", "n_startup_trials", "n_warmup_steps", "min_resource", "reduction_factor",
                  "min_early_stopping_rate")
_MISSING = object()


@dataclass(kw_only=True)
class SweepPlan:
    strategy: str
    space: SearchSpace
    fixed: list[str]
    n_trials: int
    n_jobs: int = 1
    seed: int = 0
    direction: str = objective.MINIMIZE
    max_failure_rate: float = DEFAULT_MAX_FAILURE_RATE
    command: str = ""
    script: str = "train.py"
    uri: str = ""                  # the store, absolute, decided once for every trial
    records_itself: bool = False   # the task logs its own child run (the trial protocol, pipeline.trial)
    objective: str | None = None   # the key of the objective in a mapping the task returns
    experiment: str = DEFAULT_EXPERIMENT
    name: str = ""
    resume: str | None = None
    options: dict[str, Any] = field(default_factory=dict)  # the strategy options the user set
    batch_size: int | None = None
    report_every: float = DEFAULT_REPORT_EVERY  # seconds between mid-sweep reports, at least

    def batch(self, remaining: int) -> int:
        """Trials per launch when launches run one at a time (``batch_size``, or a launcher that runs trials in
        this process): ``batch_size`` if set, else ``n_jobs``. Otherwise each trial is a launch of its own, and
        ``n_jobs`` of them are in flight (``_launches``)."""
        return min(self.batch_size or self.n_jobs, remaining)

    def overrides(self, params: dict[str, Any]) -> list[str]:
        """The fixed overrides, then the trial's parameters, as Hydra overrides."""
        return list(self.fixed) + [f"{k}={format_value(v)}" for k, v in params.items()]

    @property
    def objective_key(self) -> str:
        """The child-run metric holding each trial's value."""
        return objective.OBJECTIVE_KEY if self.records_itself else (self.objective or VALUE_KEY)

    def trial_overrides(self, params: dict[str, Any], number: int, parent_run_id: str) -> list[str]:
        """The overrides one trial runs with: fixed ones, its parameters and, for a task that records itself,
        the store and its parent run. A foreign app gets its own overrides only, as under Hydra's sweeper."""
        if not self.records_itself:
            return self.overrides(params)
        return rr.without_sweeper_keys(self.overrides(params)) + [
            f"{rr.URI_KEY}={format_value(self.uri)}", f"{rr.PARENT_KEY}='{parent_run_id}'", f"{rr.NUMBER_KEY}={number}"]

    def tags(self) -> dict[str, str]:
        return {SWEEP_TAG: self.strategy, "sweep.space": clip_json(self.space.to_grammar()),
                "sweep.fixed": clip_json(self.fixed), "sweep.seed": str(self.seed),
                "sweep.n_trials": str(self.n_trials), "sweep.direction": self.direction,
                "sweep.options": clip_json(self.options), "sweep.command": self.command,
                OBJECTIVE_KEY_TAG: self.objective_key}

    def params(self) -> dict[str, Any]:
        return {SWEEP_TAG: self.strategy, "sweep.n_trials": self.n_trials, "sweep.n_jobs": self.n_jobs,
                "sweep.seed": self.seed, "sweep.direction": self.direction,
                **{f"space.{k}": v for k, v in self.space.to_grammar().items()}}

    def optimizer_options(self) -> dict[str, Any]:
        return {k: v for k, v in self.options.items() if v is not None}

    def best_command(self, params: dict[str, Any]) -> str:
        """The one-line command that re-runs a trial with ``params`` on its own (credentials masked)."""
        from pipeline.tracking.tracker import redact

        return redact(shlex.join(["python", self.script, *self.overrides(params)]))

    def results(self, best: Any, counts: dict[str, int], parent_run_id: str | None, status: str) -> dict[str, Any]:
        """The content of ``optimization_results.yaml``."""
        out: dict[str, Any] = {"name": "pipeline_sweeper", "strategy": self.strategy, "direction": self.direction,
                               "status": status, "parent_run_id": parent_run_id, "n_trials": counts}
        if best is not None:
            out.update(best_value=best.value, best_params=dict(best.params), best_trial=best.number,
                       best_run_id=best.run_id, best_command=self.best_command(best.params))
        return out


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


_GRAMMAR = re.compile(r"^\s*(tag\(.*\)|(int|float)\(.*\)|choice\(.*\)|range\(.*\)|interval\(.*\))\s*$")


def _quoted_grammar(override: Any) -> bool:
    """A quoted value that is a search expression (``'interval(1e-4, 0.1)'``): Hydra passes it as a string,
    which no trial would take; the user meant the expression, as in ``hydra.sweeper.params``."""
    value = override.value()
    return isinstance(value, str) and override.input_line.split("=", 1)[1][:1] in "'\"" and bool(_GRAMMAR.match(value))


def build_plan(conf: dict[str, Any], config: DictConfig, cli_space: dict[str, str], cli_fixed: list[str],
               command: str, script: str) -> SweepPlan:
    """Command line wins over ``hydra.sweeper.params``; with neither, ``default_params`` is searched."""
    uri = tracking_uri(conf, config)
    if conf.get("resume"):
        return resumed_plan(conf, config, uri, command, script, cli_space)
    strategy = _check_strategy(conf.get("strategy") or "random")
    space, fixed = _space(conf, config, strategy, cli_space, cli_fixed)
    return SweepPlan(strategy=strategy, space=space, fixed=fixed + _pruning(conf, config),
                     n_trials=_positive("n_trials", _or(conf.get("n_trials"),
                                                        WHOLE_GRID if strategy == "grid" else DEFAULT_N_TRIALS)),
                     n_jobs=_positive("n_jobs", _or(conf.get("n_jobs"), 1)), seed=_seed(conf.get("seed")),
                     direction=_direction(conf.get("direction"), config),
                     max_failure_rate=_rate(conf.get("max_failure_rate")), command=command, script=script, uri=uri,
                     records_itself=records_itself(config), objective=conf.get("objective"),
                     experiment=_experiment(conf, config),
                     name=conf.get("name") or sweep_name(strategy, config),
                     options=_options(conf, strategy), batch_size=_batch_size(conf),
                     report_every=_report_every(conf.get("report_every")))


def sweep_name(strategy: str, config: DictConfig) -> str:
    """A parent run's default name, told apart at a glance in MLflow's run list (which shows ~20 characters):
    when it started, first, then the strategy and what the trials train (``12-01 14:03:27 bayes digits-mlp``)."""
    what = "-".join(str(OmegaConf.select(config, f"hydra.runtime.choices.{g}", default="") or "")
                    for g in ("data", "model")).strip("-")
    return f"{time.strftime('%m-%d %H:%M:%S')} {strategy}" + (f" {what}" if what else "")


def _space(conf: dict[str, Any], config: DictConfig, strategy: str, cli_space: dict[str, str],
           cli_fixed: list[str]) -> tuple[SearchSpace, list[str]]:
    """The searched parameters, and the fixed overrides (the command line's, then the space's fixed values).

    ``default_params`` apply when no parameter is named, except under grid, which needs an explicit grid.
    """
    declared = {**(conf.get("params") or {}), **cli_space}
    grammar = declared or (_defaults_it_has(conf, config) if strategy != "grid" else {})
    fixed_keys = {rr.override_key(f) for f in cli_fixed}
    space = SearchSpace.from_grammar({k: v for k, v in grammar.items() if k.lstrip("+") not in fixed_keys})
    return SearchSpace(space.params), cli_fixed + [f"{k}={format_value(v)}" for k, v in space.fixed.items()]


def _defaults_it_has(conf: dict[str, Any], config: DictConfig) -> dict[str, Any]:
    """The default space without the keys the task's config lacks (``model.hidden_dim`` of a plugged-in model
    that has none): a default never overrides what is not there; a declared space is used as given."""
    defaults = dict(conf.get("default_params") or {})
    kept = {k: v for k, v in defaults.items() if OmegaConf.select(config, k.lstrip("+"), default=_MISSING) is not _MISSING}
    if len(kept) < len(defaults):
        log.info("Default space: %s left out (not in this config)", ", ".join(sorted(set(defaults) - set(kept))))
    return kept


def resumed_plan(conf: dict[str, Any], config: DictConfig, uri: str | None, command: str, script: str,
                 cli_space: dict[str, str]) -> SweepPlan:
    """The interrupted sweep's plan, from its parent run; ``n_jobs``, ``batch_size`` and ``max_failure_rate``
    may change. A setting given again on the resume command that contradicts the parent is an error."""
    from pipeline.tracking.tracker import get_client

    run_id = str(conf["resume"])
    try:
        tags = get_client(uri).get_run(run_id).data.tags
    except Exception as e:
        raise ValueError(f"hydra.sweeper.resume={run_id!r}: no such run in {uri} ({type(e).__name__})") from None
    if SWEEP_TAG not in tags or tags[SWEEP_TAG] == "basic":
        raise ValueError(f"hydra.sweeper.resume={run_id!r} is not the parent run of a grid/random/bayes sweep")
    plan = SweepPlan(strategy=tags[SWEEP_TAG], space=SearchSpace.from_grammar(json.loads(tags["sweep.space"])),
                     fixed=json.loads(tags["sweep.fixed"]), n_trials=int(tags["sweep.n_trials"]),
                     n_jobs=_positive("n_jobs", _or(conf.get("n_jobs"), 1)), seed=int(tags["sweep.seed"]),
                     direction=tags["sweep.direction"], max_failure_rate=_rate(conf.get("max_failure_rate")),
                     command=command, script=script, uri=uri, records_itself=records_itself(config),
                     objective=conf.get("objective"), experiment=_experiment(conf, config), resume=run_id,
                     options=json.loads(tags.get("sweep.options", "{}")), batch_size=_batch_size(conf),
                     report_every=_report_every(conf.get("report_every")))
    _check_consistent(plan, conf, config, cli_space)
    return plan


def _check_consistent(plan: SweepPlan, conf: dict[str, Any], config: DictConfig, cli_space: dict[str, str]) -> None:
    """Raise ValueError naming both values when the resume command sets something the parent run decided."""
    given = {"strategy": _chosen_strategy(conf, config), "n_trials": conf.get("n_trials"), "seed": conf.get("seed"),
             "direction": None if conf.get("direction") in (None, "auto") else conf.get("direction")}
    recorded = {"strategy": plan.strategy, "n_trials": plan.n_trials, "seed": plan.seed, "direction": plan.direction}
    for key in STRATEGY_OPTIONS[plan.strategy]:
        given[key], recorded[key] = conf.get(key), plan.options.get(key)
    declared = {**(conf.get("params") or {}), **cli_space}
    if declared:
        given["params"] = SearchSpace.from_grammar(declared).to_grammar()
        recorded["params"] = plan.space.to_grammar()
    for key, value in given.items():
        if value is not None and value != recorded[key]:
            had = f"{key}={recorded[key]!r}" if recorded[key] is not None else f"{key} unset (the default)"
            raise ValueError(f"hydra.sweeper.{key}={value!r} contradicts the resumed sweep {plan.resume}, which has "
                             f"{had}; leave it out to resume (a resumed sweep keeps its settings)")


def _chosen_strategy(conf: dict[str, Any], config: DictConfig) -> str | None:
    """The strategy the command line chose explicitly (``hydra/sweeper=X`` or ``hydra.sweeper.strategy=X``).

    The project's config selects a sweeper by default; that choice alone does not contradict a resume.
    """
    hydra_overrides = OmegaConf.select(config, "hydra.overrides.hydra", default=None) or []
    explicit = any(o.split("=", 1)[0].lstrip("+~") in ("hydra/sweeper", "hydra.sweeper.strategy")
                   for o in hydra_overrides)
    return conf.get("strategy") if explicit else None


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
    from pipeline.pruning.rules import PRUNERS

    pruner = conf.get("pruner") or "none"
    if pruner not in PRUNERS:
        raise ValueError(f"hydra.sweeper.pruner={pruner!r} is unknown; expected one of {PRUNERS}")
    if pruner == "none":
        return []
    if "pruning" not in config:
        raise ValueError("hydra.sweeper.pruner needs a 'pruning' section in the task's config")
    return [f"pruning.{k}={conf[k]}" for k in PRUNER_OPTIONS if conf.get(k) is not None]


def tracking_uri(conf: dict[str, Any], config: DictConfig) -> str:
    """The sweep's store, decided once here and passed to every trial: the task's ``tracking.uri`` (resolved
    in the sweeper's environment), else ``hydra.sweeper.tracking_uri``, else ``MLFLOW_TRACKING_URI``, else
    the project's SQLite store; made absolute, and checked before anything runs."""
    import os

    from pipeline.tracking.tracker import check_reachable, resolve_tracking_uri, split_credentials

    uri = resolve_tracking_uri(OmegaConf.select(config, rr.URI_KEY, default=None) or conf.get("tracking_uri"))
    check_reachable(uri)
    uri, credentials = split_credentials(uri)
    if credentials:  # this process and the workers it starts authenticate from the environment
        for key, value in credentials.items():
            os.environ.setdefault(key, value)
        log.info("The tracking URI's credentials go to trials as MLFLOW_TRACKING_USERNAME/PASSWORD in the "
                 "environment of this process; workers on other machines need them in theirs")
    return uri


def records_itself(config: DictConfig) -> bool:
    """Whether the task follows the trial protocol (it has ``tracking.parent_run_id`` and ``tracking.trial_number``)
    and so logs its own child run; for any other app the sweeper writes each trial's run itself."""
    return all(OmegaConf.select(config, k, default=_MISSING) is not _MISSING for k in (rr.PARENT_KEY, rr.NUMBER_KEY))


def _experiment(conf: dict[str, Any], config: DictConfig) -> str:
    """``hydra.sweeper.experiment``, else the task's ``tracking.experiment``, else the Hydra job's name."""
    found = conf.get("experiment") or OmegaConf.select(config, "tracking.experiment", default=None)
    return str(found or OmegaConf.select(config, "hydra.job.name", default=None) or DEFAULT_EXPERIMENT)


def _options(conf: dict[str, Any], strategy: str) -> dict[str, Any]:
    """The strategy's options the user set; unset ones keep the optimizer's defaults."""
    return {k: conf[k] for k in STRATEGY_OPTIONS[strategy] if conf.get(k) is not None}


def _check_strategy(strategy: str) -> str:
    if strategy not in STRATEGIES:
        raise ValueError(f"hydra.sweeper.strategy={strategy!r} is unknown; expected one of {STRATEGIES}")
    return strategy


def _direction(direction: str | None, config: DictConfig) -> str:
    """Set by the user, else that of the task's ``cv.metric``, else minimize (see ``objective.resolve_direction``)."""
    try:
        return objective.resolve_direction(direction, OmegaConf.select(config, "cv.metric", default=None))
    except ValueError as e:
        raise ValueError(f"hydra.sweeper.{e}" if str(e).startswith("direction=") else str(e)) from None


def _or(value: Any, default: Any) -> Any:
    return default if value is None else value


def _seed(value: Any) -> int:
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"hydra.sweeper.seed={value!r} is invalid; expected an integer")
    return value


def _positive(name: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"hydra.sweeper.{name}={value!r} is invalid; expected an integer >= 1")
    return value


def _report_every(value: Any) -> float:
    value = _or(value, DEFAULT_REPORT_EVERY)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
        raise ValueError(f"hydra.sweeper.report_every={value!r} is invalid; expected a number of seconds >= 0")
    return float(value)


def _rate(value: Any) -> float:
    value = _or(value, DEFAULT_MAX_FAILURE_RATE)
    try:
        ok = 0.0 <= float(value) <= 1.0
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"hydra.sweeper.max_failure_rate={value!r} is invalid; expected a number in [0, 1]")
    return float(value)


def make_sweep_optimizer(plan: SweepPlan) -> Any:
    """The plan's optimizer. A finite space no larger than the budget is run whole, in the grid's order
    (Hydra's basic sweeper's), whatever the strategy: every point gets evaluated anyway."""
    strategy, options = plan.strategy, plan.optimizer_options()
    if strategy != "grid" and plan.space.dim and plan.space.cardinality() <= plan.n_trials:
        log.info("The space holds %d points, no more than n_trials=%d: every point is run, in grid order",
                 int(plan.space.cardinality()), plan.n_trials)
        strategy, options = "grid", {}
    if strategy == "grid":
        options = {**options, "n_trials": plan.n_trials}
    optimizer = make_optimizer(strategy, plan.space, seed=plan.seed, direction=plan.direction, **options)
    if getattr(optimizer, "n_total", None) is not None:  # a finite grid ends sooner
        plan.n_trials = min(plan.n_trials, optimizer.n_total)
        if optimizer.n_grid > optimizer.n_total:
            log.warning("The grid has %d points and n_trials=%d: %d points are left out. The %d run try every value "
                        "of every parameter about equally often; unset hydra.sweeper.n_trials to run the whole "
                        "grid", optimizer.n_grid, plan.n_trials, optimizer.n_grid - plan.n_trials, plan.n_trials)
    return optimizer
