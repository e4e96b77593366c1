"""What a sweep will do: its search space, fixed overrides and options, and each trial's overrides.

The plan is built once, before anything is launched or written (``build_plan``), from the sweeper's options
(read by ``_options``), the command line and the task's config; a resumed sweep takes it from its parent run
instead (``resumed_plan``, through the tags' codec ``pipeline.tracking.names.SweepTags``). It is frozen: a
grid smaller than the budget gives a new plan (``_optimizer.make_sweep_optimizer``), not a changed one.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from hydra_plugins.pipeline_sweeper import _options as opt
from pipeline import objective
from pipeline.cli import absolute_pythonpath, absolute_searchpath, rerun_command
from pipeline.search import SearchSpace
from pipeline.search.conditions import parse_conditions
from pipeline.search.grammar import format_value
from pipeline.tracking import names
from pipeline.tracking.names import SweepTags

log = logging.getLogger(__name__)
ADAPTIVE = ("bayes", "evolution")  # strategies whose next proposals depend on the results of the last batch
VALUE_KEY = "value"  # the child metric holding a foreign app's returned value (unless hydra.sweeper.objective)


@dataclass(frozen=True, kw_only=True)
class SweepPlan:
    strategy: str
    space: SearchSpace
    fixed: list[str]
    n_trials: int
    n_jobs: int = 1
    seed: int = 0
    direction: str = objective.MINIMIZE
    max_failure_rate: float = opt.DEFAULT_MAX_FAILURE_RATE
    command: str = ""
    script: str = "train.py"
    searchpath: tuple[str, ...] = ()  # the app's config folders (hydra.searchpath), absolute
    pythonpath: str | None = None     # PYTHONPATH, absolute: where a plug-in's modules come from
    uri: str = ""                  # the store, absolute, decided once for every trial (``_store``)
    records_itself: bool = False   # the task logs its own child run (the trial protocol, pipeline.trial)
    takes_run_id: bool = False     # ... into the run the sweeper created at launch (its config has tracking.run_id)
    objective: str | None = None   # the key of the objective in a mapping the task returns
    metric: str | None = None      # this project's trials: the cv.metric behind their objective
    experiment: str = opt.DEFAULT_EXPERIMENT
    name: str = ""
    resume: str | None = None
    options: dict[str, Any] = field(default_factory=dict)  # the strategy options the user set
    batch_size: int | None = None
    report: bool = True            # the report, rewritten mid-sweep and at the end
    report_every: float = opt.DEFAULT_REPORT_EVERY  # seconds between mid-sweep reports, at least
    ui_url: str | None = None      # the MLflow UI the report's run links open (default: the store's)
    register_model: bool = True    # the best trial's model registered at the end (else only logged)
    explain: bool = True           # ... and explained (``pipeline.explain``)
    model_name: str | None = None  # default: the experiment's name
    model_alias: str | None = None  # default: pipeline.results.registry's (champion)
    # Several objectives (``objectives``: their names, empty for the one unnamed value; ``directions``: one each,
    # the first is ``direction``), limits a feasible trial meets, the rule naming the best of a front, and the
    # hypervolume's reference point when the user set one.
    objectives: tuple[str, ...] = ()
    directions: tuple[str, ...] = ()
    constraints: tuple[str, ...] = ()
    select: str | None = None
    reference_point: tuple[float, ...] | None = None
    defaults: dict[str, Any] | None = None  # the searched parameters' values in the app's own config (``_defaults``)

    def replace(self, **changes: Any) -> SweepPlan:
        return dataclasses.replace(self, **changes)

    def batch(self, remaining: int) -> int:
        """Trials per launch when launches run one at a time (``batch_size``, or a launcher that runs trials in
        this process): ``batch_size`` if set, else ``n_jobs``. Otherwise each trial is a launch of its own, and
        ``n_jobs`` of them are in flight (``_launches``)."""
        return min(self.batch_size or self.n_jobs, remaining)

    def overrides(self, params: dict[str, Any]) -> list[str]:
        """The fixed overrides, then the trial's parameters, as Hydra overrides."""
        return list(self.fixed) + [f"{k}={format_value(v)}" for k, v in params.items()]

    @property
    def goals(self) -> objective.Objectives:
        return objective.Objectives(self.objectives, self.directions or (self.direction,))

    @property
    def multi(self) -> bool:
        return self.goals.multi

    @property
    def limits(self) -> tuple[objective.Constraint, ...]:
        return tuple(objective.parse_constraint(c) for c in self.constraints)

    @property
    def selection(self) -> objective.Selection:
        return objective.parse_selection(self.select, self.goals)

    def value_key(self, name: str) -> str:
        """The child-run metric holding the value a trial returned under ``name``."""
        return objective.run_key(name, self.records_itself)

    @property
    def objective_key(self) -> str:
        """The child-run metric holding each trial's value (with several objectives, the first one's)."""
        if self.records_itself:
            return self.value_key(self.objectives[0]) if self.objectives else objective.OBJECTIVE_KEY
        return self.objective or (self.goals.labels[0] if self.multi else VALUE_KEY)

    def trial_overrides(self, params: dict[str, Any], number: int, parent_run_id: str, run_id: str | None = None
                        ) -> list[str]:
        """The overrides one trial runs with: fixed ones, its parameters and, for a task that records itself,
        the store, its parent run, its number and the run created for it at launch (``tracking.run_id``, where
        the app's config has the key). A foreign app gets its own overrides only, as under Hydra's sweeper."""
        if not self.records_itself:
            return self.overrides(params)
        own = [f"{names.URI_KEY}={format_value(self.uri)}", f"{names.PARENT_KEY}='{parent_run_id}'",
               f"{names.NUMBER_KEY}={number}"]
        if run_id and self.takes_run_id:
            own.append(f"{names.RUN_ID_KEY}='{run_id}'")
        return names.without_sweeper_keys(self.overrides(params)) + own

    @property
    def creates_trial_runs(self) -> bool:
        """Whether the sweeper creates each trial's run at launch: for a foreign app (it fills it when the trial
        ends) and a trial that takes it (``tracking.run_id``); an app recording its own runs otherwise does not."""
        return not self.records_itself or self.takes_run_id

    @property
    def goal(self) -> str:
        """What the sweep optimises, in which direction, for its start line: ``maximizes val_accuracy (its
        cross-validated mean)``, ``minimizes 'loss' of the mapping the task returns``."""
        verb = f"{self.direction}s"
        limits = f", subject to {' and '.join(self.constraints)}" if self.constraints else ""
        if self.multi:
            return " and ".join(f"{d}s {n}" for d, n in zip(self.directions, self.goals.labels)) + limits
        if self.objectives and self.records_itself:
            return f"{verb} {self.objectives[0]}" + limits
        return self._single_goal(verb) + limits

    def _single_goal(self, verb: str) -> str:
        if self.records_itself:
            return f"{verb} {self.metric or 'the objective'} (its cross-validated mean)"
        if self.objective:
            return f"{verb} {self.objective!r} of the mapping the task returns"
        return f"{verb} the value the task returns"

    def recorded(self) -> SweepTags:
        """What the parent run records of this plan (read back by ``resumed_plan`` and the report)."""
        return SweepTags(strategy=self.strategy, space=self.space.to_grammar(), fixed=list(self.fixed),
                         conditions=self.space.conditions_text(),
                         seed=self.seed, n_trials=self.n_trials, direction=self.direction, options=dict(self.options),
                         command=self.command, objective_key=self.objective_key,
                         objectives=list(self.goals.labels) if self.multi else [],
                         directions=list(self.directions) if self.multi else [],
                         objective_keys=[self.value_key(n) for n in self.goals.labels] if self.multi else [],
                         constraints=list(self.constraints),
                         constraint_keys=[self.value_key(c.name) for c in self.limits], select=self.select,
                         reference_point=list(self.reference_point) if self.reference_point else None,
                         defaults=self.defaults)

    def optimizer_options(self) -> dict[str, Any]:
        return {k: v for k, v in self.options.items() if v is not None}

    def best_command(self, params: dict[str, Any]) -> str:
        """The one-line command that re-runs a trial with ``params`` on its own, from any folder where the app
        has config folders or modules of its own (credentials masked)."""
        from pipeline.tracking.store import redact

        return redact(rerun_command(self.script, self.overrides(params), list(self.searchpath),
                                    pythonpath=self.pythonpath))

    def results(self, best: Any, counts: dict[str, int], parent_run_id: str | None, status: str) -> dict[str, Any]:
        """The content of ``optimization_results.yaml``."""
        out: dict[str, Any] = {"name": "pipeline_sweeper", "strategy": self.strategy, "direction": self.direction,
                               "status": status, "parent_run_id": parent_run_id, "n_trials": counts}
        if best is not None:
            out.update(best_value=best.value, best_params=dict(best.params), best_trial=best.number,
                       best_run_id=best.run_id, best_command=self.best_command(best.params))
        return out


@dataclass(frozen=True)
class Command:
    """What the sweep was started with: the search expressions and fixed overrides of its command line, the
    command itself and its script's name."""

    space: dict[str, str]
    fixed: list[str]
    line: str
    script: str


def script_path(argv0: str) -> str:
    """The script as a re-run command names it: its bare name when it lies in the current folder (``python
    train.py``), else its absolute path (a plug-in's sweep started elsewhere)."""
    path = Path(argv0).resolve()
    return path.name if path.parent == Path.cwd().resolve() else str(path)


def build_plan(conf: dict[str, Any], config: DictConfig, command: Command, uri: str) -> SweepPlan:
    """Command line wins over ``hydra.sweeper.params``; with neither, ``default_params`` is searched."""
    if conf.get("resume"):
        return resumed_plan(conf, config, command, uri)
    strategy = opt.strategy(conf.get("strategy") or "random")
    space, fixed = _space(conf, config, strategy, command)
    records_itself = opt.records_itself(config)
    goals = opt.goals(conf, config, records_itself)
    plan = SweepPlan(strategy=strategy, space=space, fixed=fixed + opt.pruning_overrides(conf, config, goals),
                     n_trials=opt.n_trials(conf.get("n_trials"), strategy), name=conf.get("name") or
                     sweep_name(strategy, config, space), options=opt.strategy_options(conf, strategy),
                     seed=opt.seed(conf.get("seed")), direction=goals.directions[0],
                     objectives=goals.names, directions=goals.directions,
                     constraints=tuple(str(c) for c in opt.limits(conf, config, records_itself)),
                     select=_selected(opt.selection(conf, goals, config, records_itself), goals),
                     reference_point=opt.reference_point(conf.get("reference_point"), goals),
                     **_session(conf, config, command, uri))
    opt.check_grid(plan.strategy, plan.space, conf, command.space)
    if not goals.names:
        opt.warn_direction(plan.direction, config)
    return plan


def _selected(rule: objective.Selection, goals: objective.Objectives) -> str | None:
    return str(rule) if goals.multi else None


def _session(conf: dict[str, Any], config: DictConfig, command: Command, uri: str) -> dict[str, Any]:
    """The settings a resumed sweep may change: how it runs, not what it searches."""
    opt.check_alias(conf.get("model_alias"))
    cwd = OmegaConf.select(config, "hydra.runtime.cwd", default=None) or os.getcwd()
    searchpath = OmegaConf.select(config, "hydra.searchpath", default=None) or []
    pythonpath = os.environ.get("PYTHONPATH")
    return dict(n_jobs=opt.positive("n_jobs", opt.or_default(conf.get("n_jobs"), 1)),
                max_failure_rate=opt.failure_rate(conf.get("max_failure_rate")), command=command.line,
                script=command.script, searchpath=tuple(absolute_searchpath(list(searchpath), cwd)),
                pythonpath=absolute_pythonpath(pythonpath, cwd) if pythonpath else None,
                uri=uri, records_itself=opt.records_itself(config),
                takes_run_id=OmegaConf.select(config, names.RUN_ID_KEY, default=opt.MISSING) is not opt.MISSING,
                metric=OmegaConf.select(config, "cv.metric", default=None) if opt.records_itself(config) else None,
                objective=conf["objective"] if isinstance(conf.get("objective"), str) else None,
                experiment=opt.experiment(conf, config),
                batch_size=opt.batch_size(conf), report=bool(conf.get("report", True)),
                report_every=opt.report_every(conf.get("report_every")), ui_url=opt.ui_url(conf.get("ui_url")),
                register_model=bool(conf.get("register_model", True)),
                explain=bool(conf.get("explain_model", True)), model_name=conf.get("model_name"),
                model_alias=conf.get("model_alias"))


def sweep_name(strategy: str, config: DictConfig, space: SearchSpace | None = None) -> str:
    """A parent run's default name, told apart at a glance in MLflow's run list (which shows ~20 characters):
    when it started, first, then the strategy and what the trials train (``12-01 14:03:27 bayes digits-mlp``;
    a searched group's options joined by ``|``: ``digits-mlp|cnn``)."""
    searched = {p.name.lstrip("+"): p for p in (space.params if space is not None else ()) if hasattr(p, "choices")}

    def chosen(g: str) -> str:
        if g in searched:
            return "|".join(str(c) for c in searched[g].choices)
        return str(OmegaConf.select(config, f"hydra.runtime.choices.{g}", default="") or "")

    what = "-".join(chosen(g) for g in ("data", "model")).strip("-")
    return f"{time.strftime('%m-%d %H:%M:%S')} {strategy}" + (f" {what}" if what else "")


def _space(conf: dict[str, Any], config: DictConfig, strategy: str, command: Command) -> tuple[SearchSpace, list[str]]:
    """The searched parameters, and the fixed overrides (the command line's, then the space's fixed values).

    ``default_params`` apply when no parameter is named, except under grid, which needs an explicit grid.
    """
    declared = {**(conf.get("params") or {}), **command.space}
    grammar = declared or (_defaults_it_has(conf, config) if strategy != "grid" else {})
    fixed_keys = {names.override_key(f) for f in command.fixed}
    given = {k: v for k, v in grammar.items() if k.lstrip("+") not in fixed_keys}
    conditions = {k: parse_conditions(k, v) for k, v in (conf.get("conditions") or {}).items()}
    parents = {c.parent for conds in conditions.values() for c in conds}  # a parent the command line fixes
    fixed_values = {names.override_key(f): _scalar(f.split("=", 1)[1]) for f in command.fixed
                    if "=" in f and names.override_key(f) in parents}
    space = SearchSpace.from_grammar({**fixed_values, **given}, conditions)
    fixed = [f"{k}={format_value(v)}" for k, v in space.fixed.items() if k not in fixed_values]
    return SearchSpace(space.params, {}, space.conditions), command.fixed + fixed


def _scalar(text: str) -> Any:
    """A fixed override's value as a condition compares it (``3`` a number, ``cnn`` a string)."""
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _defaults_it_has(conf: dict[str, Any], config: DictConfig) -> dict[str, Any]:
    """The default space without the keys the task's config lacks (``model.hidden_dim`` of a plugged-in model
    that has none): a default never overrides what is not there; a declared space is used as given."""
    defaults = dict(conf.get("default_params") or {})
    kept = {k: v for k, v in defaults.items() if OmegaConf.select(config, k.lstrip("+"), default=opt.MISSING)
            is not opt.MISSING}
    if len(kept) < len(defaults):
        log.info("Default space: %s left out (not in this config)", ", ".join(sorted(set(defaults) - set(kept))))
    return kept


def resumed_plan(conf: dict[str, Any], config: DictConfig, command: Command, uri: str) -> SweepPlan:
    """The interrupted sweep's plan, from its parent run; ``n_jobs``, ``batch_size`` and ``max_failure_rate``
    may change. A setting given again on the resume command that contradicts the parent is an error."""
    from pipeline.tracking.store import get_client, redact

    run_id = str(conf["resume"])
    try:
        run = get_client(uri).get_run(run_id)
        tags = run.data.tags
    except Exception as e:
        raise ValueError(f"hydra.sweeper.resume={run_id!r}: no such run in {redact(uri)} ({type(e).__name__}); "
                         "expected the parent run id of a sweep in this store") from None
    recorded = SweepTags.decode(tags)
    if recorded.strategy in (None, names.BASIC_STRATEGY) or not recorded.complete:
        raise ValueError(f"hydra.sweeper.resume={run_id!r} is not the parent run of a grid/random/bayes sweep")
    session = _session(conf, config, command, uri)
    several = dict(objectives=tuple(recorded.objectives), directions=tuple(recorded.directions)) if \
        recorded.directions else {}
    plan = SweepPlan(strategy=recorded.strategy,
                     space=SearchSpace.from_grammar(recorded.space, recorded.conditions or None),
                     fixed=list(recorded.fixed), n_trials=recorded.n_trials, seed=recorded.seed,
                     direction=recorded.direction, resume=run_id, options=dict(recorded.options),
                     name=run.info.run_name or run_id, constraints=tuple(recorded.constraints),
                     select=recorded.select, **several,
                     reference_point=tuple(recorded.reference_point) if recorded.reference_point else None,
                     **session)
    if not several and recorded.objective_key not in (None, objective.OBJECTIVE_KEY) and plan.records_itself:
        named = [n for n in (*objective.METRICS, *objective.COSTS) if plan.value_key(n) == recorded.objective_key]
        plan = plan.replace(objectives=tuple(named[:1]))  # one named objective of this project's trials
    _check_consistent(plan, conf, config, command)
    if run.info.status == "FINISHED":
        raise SweepFinished(f"Sweep {plan.name!r} ({run_id}) already finished its {plan.n_trials} trials: nothing "
                            "to resume, nothing changed; start a new sweep to search further")
    return plan


class SweepFinished(Exception):
    """``hydra.sweeper.resume`` names a sweep that ended as planned: nothing to run, nothing to change."""


def _check_consistent(plan: SweepPlan, conf: dict[str, Any], config: DictConfig, command: Command) -> None:
    """Raise ValueError naming both values when the resume command sets something the parent run decided."""
    direction = conf.get("direction")
    given = {"strategy": _chosen_strategy(conf, config), "n_trials": conf.get("n_trials"), "seed": conf.get("seed"),
             "direction": None if direction in (None, "auto") else
             (list(direction) if not isinstance(direction, str) else direction),
             "objective": conf.get("objective") if isinstance(conf.get("objective"), str) or
             conf.get("objective") is None else list(conf["objective"]),
             "constraints": None if conf.get("constraints") is None else
             [str(c) for c in objective.parse_constraints(conf["constraints"])],
             "select": conf.get("select")}
    recorded = {"strategy": plan.strategy, "n_trials": plan.n_trials, "seed": plan.seed,
                "direction": list(plan.directions) if plan.multi else plan.direction,
                "objective": list(plan.objectives) if plan.multi else (plan.objectives[0] if plan.objectives else
                                                                      plan.objective),
                "constraints": list(plan.constraints), "select": plan.select}
    for key in opt.STRATEGY_OPTIONS[plan.strategy]:
        given[key], recorded[key] = conf.get(key), plan.options.get(key)
    declared = {**(conf.get("params") or {}), **command.space}
    if declared:
        given["params"] = SearchSpace.from_grammar(declared).to_grammar()
        recorded["params"] = plan.space.to_grammar()
    if conf.get("conditions"):
        given["conditions"] = {k: " and ".join([v] if isinstance(v, str) else list(v))
                               for k, v in conf["conditions"].items()}
        recorded["conditions"] = {k: v for k, v in plan.space.conditions_text().items() if k in given["conditions"]}
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
