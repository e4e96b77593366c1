"""The configuration a sweep starts from: each searched parameter's value in the app's own config (its defaults
list and the fixed overrides, no searched value), recorded on the parent (``sweep.defaults``) so that an
explanation's ablation path can walk from it to the best trial (``pipeline.explain.ablation``)."""

from __future__ import annotations

import logging
from typing import Any

from omegaconf import DictConfig, OmegaConf

from hydra_plugins.pipeline_sweeper._conditional import is_group
from hydra_plugins.pipeline_sweeper._plan import SweepPlan

log = logging.getLogger(__name__)
SCALARS = (str, int, float, bool)


def with_defaults(plan: SweepPlan, loader: Any, config: DictConfig) -> SweepPlan:
    """``plan`` with ``defaults``: the searched parameters the app's config sets (a group's chosen option, a
    key's scalar value) and that are active there; a parameter the config lacks (``+key``) is left out."""
    if plan.resume or not plan.space.params:
        return plan
    try:
        cfg = loader.load_sweep_config(config, list(plan.fixed))
    except Exception as e:  # noqa: BLE001 - the checks before the first trial say what is wrong with the config
        log.debug("No default configuration recorded: %s", e)
        return plan
    found = {}
    for p in plan.space.params:
        value = _value(cfg, loader, p.name)
        if isinstance(value, SCALARS):
            found[p.name] = value
    active = set(plan.space.active(found))
    return plan.replace(defaults={k: v for k, v in found.items() if k in active} or None)


def _value(cfg: DictConfig, loader: Any, name: str) -> Any:
    if name.startswith("+"):
        return None
    if is_group(loader, name):
        return OmegaConf.select(cfg, "hydra.runtime.choices", default={}).get(name)
    # a value that resolves only in a trial (``${oc.env:...}`` unset here) is no default: left out
    return OmegaConf.select(cfg, name, default=None, throw_on_resolution_failure=False)
