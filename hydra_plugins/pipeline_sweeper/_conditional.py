"""Parameters that apply only where the trial's chosen config groups have them: ``model.channels`` is dropped
from an MLP trial's overrides in ``model=choice(mlp,cnn) model.channels=...``.

Which keys exist is learnt by composing the config once per combination of group choices, as Hydra composes a
trial (the sweep's fixed overrides and the chosen options)."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf

from hydra_plugins.pipeline_sweeper._options import MISSING
from hydra_plugins.pipeline_sweeper._plan import SweepPlan


class ConditionalParams:
    """``active(params)``: the parameters of ``params`` the trial's config has."""

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
                or OmegaConf.select(cfg, k, default=MISSING) is not MISSING}
