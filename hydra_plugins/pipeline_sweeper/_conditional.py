"""Parameters that apply only where the trial's chosen config groups have them: ``model.channels`` is searched
only for the CNN in ``model=choice(mlp,cnn) model.channels=...``.

Which keys each option of a searched group has is learnt by composing the config once per option, as Hydra
composes a trial (the sweep's fixed overrides and that option): a key only some options have is made conditional
on the group (``model in [cnn]``, ``pipeline.search.conditions``), beside the conditions the user wrote. A trial's
overrides are also filtered against its composed config (``active``), for keys whose presence depends on more than
one group at once."""

from __future__ import annotations

import logging
from typing import Any

from omegaconf import DictConfig, OmegaConf

from hydra_plugins.pipeline_sweeper._options import MISSING
from hydra_plugins.pipeline_sweeper._plan import SweepPlan
from pipeline.search import SearchSpace
from pipeline.search.conditions import Condition, format_conditions

log = logging.getLogger(__name__)


def is_group(loader: Any, name: str) -> bool:
    return "." not in name and name.lstrip("+") in loader.list_groups("")


def with_group_conditions(plan: SweepPlan, loader: Any, config: DictConfig) -> SweepPlan:
    """``plan`` with each searched key that only some options of a searched group have made conditional on it."""
    groups = [p for p in plan.space.params if hasattr(p, "choices") and is_group(loader, p.name)]
    keys = [p.name for p in plan.space.params if p not in groups and not p.name.startswith("+")]
    if plan.resume or not groups or not keys:
        return plan
    inferred: dict[str, tuple[Condition, ...]] = {}
    for group in groups:
        has: dict[str, list[Any]] = {k: [] for k in keys}
        for option in group.choices:
            try:
                cfg = loader.load_sweep_config(config, [*plan.fixed, f"{group.name}={option}"])
            except Exception:  # noqa: BLE001 - a bad option: the checks before the first trial say what is wrong
                return plan
            for k in keys:
                if OmegaConf.select(cfg, k, default=MISSING) is not MISSING:
                    has[k].append(option)
        for k, options in has.items():
            if options and len(options) < len(group.choices):
                inferred[k] = (*inferred.get(k, ()), Condition(group.name, "in", tuple(options)))
    if not inferred:
        return plan
    conditions = {k: (*plan.space.conditions.get(k, ()), *inferred.get(k, ()))
                  for k in [*plan.space.conditions, *inferred]}
    said = "; ".join(f"{k} if {v}" for k, v in format_conditions(inferred).items())
    log.info("Searched only where their config group has them: %s", said)
    return plan.replace(space=SearchSpace(plan.space.params, {}, conditions))


class ConditionalParams:
    """``active(params)``: the parameters of ``params`` the trial's config has."""

    def __init__(self, hydra_context: Any, config: DictConfig, plan: SweepPlan) -> None:
        self.loader = hydra_context.config_loader
        self.config, self.plan = config, plan
        self.groups = {p.name for p in plan.space.params if is_group(self.loader, p.name)}
        self._cache: dict[tuple, DictConfig] = {}

    def active(self, params: dict[str, Any]) -> dict[str, Any]:
        if not self.groups:
            return params
        choice = tuple(sorted((g, str(params[g])) for g in self.groups if g in params))
        if choice not in self._cache:
            overrides = list(self.plan.fixed) + [f"{g}={v}" for g, v in choice]
            self._cache[choice] = self.loader.load_sweep_config(self.config, overrides)
        cfg = self._cache[choice]
        return {k: v for k, v in params.items() if k in self.groups or k.startswith("+")
                or OmegaConf.select(cfg, k, default=MISSING) is not MISSING}
