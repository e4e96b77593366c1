"""Trial configs composed once per shape: the sweeper's largest cost per trial was Hydra recomposing the whole
config (every YAML file, every schema merge) for each job, though trials differ only in a few values.

Hydra composes a job's config in two steps (``ConfigLoaderImpl._load_configuration_impl``): the defaults list,
which only config-group overrides (``optimizer=sgd``) and the ``hydra.*`` overrides change, and then the other
overrides applied to the composed tree (``_apply_overrides_to_config``), followed by some bookkeeping in
``hydra.*``. Here the first step is done by Hydra itself, once per *shape* (the group and ``hydra.*`` overrides,
in order), and cached; each job gets a copy of its shape's config with its value overrides applied by Hydra's
own function and the bookkeeping redone (``hydra.overrides.task``, ``override_dirname``, ``env_set``, ``cwd``).
Anything unusual (a sweep override, an override Hydra would reject) takes Hydra's own path, whose result and
errors are then exactly Hydra's. A shape is keyed by the config name, the sweep's ``hydra.*`` overrides and the
job's group overrides; config files edited during a sweep are not read again. ``tests/hydra_plugins/test_compose.py`` compares both paths config by config.
"""

from __future__ import annotations

import copy
import os
import threading
import warnings
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

MAX_SHAPES = 64  # composed shapes kept (each is one job config, ~100 KB)
# This plugin's nodes (hydra/sweeper/{grid,random,bayes}) are meant to be extended by an app's file of the same
# name; Hydra warns about it at every composition, in every worker: once in the app's own start is enough.
SCHEMA_MATCH_WARNING = r"\s*'hydra/sweeper/(grid|random|bayes)' is validated against ConfigStore schema"
# Launchers that compose in their workers (joblib) ship a fresh copy of the loader with every job: a worker
# keeps its shapes across the jobs it runs, per config search path.
_WORKER_SHAPES: dict[tuple[Any, ...], tuple[dict[tuple[Any, ...], DictConfig], threading.Lock]] = {}


class ComposeCache:
    """A Hydra config loader whose ``load_sweep_config`` reuses each shape's composition."""

    def __init__(self, loader: Any, shared: bool = False) -> None:
        self.loader = loader
        self._shapes: dict[tuple[Any, ...], DictConfig] = {}
        self._lock = threading.Lock()  # launch threads compose one at a time (``_launches``), tests may not
        if shared:
            self._shapes, self._lock = _WORKER_SHAPES.setdefault(_search_path(loader), (self._shapes, self._lock))
        self.hydra_composes = 0  # whole compositions by Hydra: one per shape, and one per job Hydra must compose

    def __getattr__(self, name: str) -> Any:  # the rest of the loader's API, as it is
        if name.startswith("__") or name in ("loader", "_shapes", "_lock", "hydra_composes"):
            raise AttributeError(name)
        return getattr(self.loader, name)

    def __getstate__(self) -> dict[str, Any]:  # launchers ship their context to workers: the loader alone
        return {"loader": self.loader}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["loader"], shared=True)  # type: ignore[misc]

    def load_sweep_config(self, master_config: DictConfig, sweep_overrides: list[str]) -> DictConfig:
        try:
            split = self._split(master_config, list(sweep_overrides))
        except Exception:  # noqa: BLE001 - Hydra's own path raises Hydra's own error for it
            split = None
        if split is None:
            return self._hydra(master_config, sweep_overrides)
        shape, values, parsed = split
        with self._lock:
            base = self._shapes.get(shape)
            if base is None:
                base = self._hydra(master_config, list(shape[2]))
                if len(self._shapes) >= MAX_SHAPES:
                    self._shapes.pop(next(iter(self._shapes)))
                self._shapes[shape] = base
        try:
            return _apply(base, master_config, values, parsed)
        except Exception:  # noqa: BLE001 - a bad value: let Hydra compose it and say what is wrong
            return self._hydra(master_config, sweep_overrides)

    def _hydra(self, master_config: DictConfig, sweep_overrides: list[str]) -> DictConfig:
        self.hydra_composes += 1
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=SCHEMA_MATCH_WARNING, category=UserWarning)
            return self.loader.load_sweep_config(master_config, sweep_overrides)

    def _split(self, master_config: DictConfig, sweep_overrides: list[str]) -> tuple[Any, list[Any], list[Any]] | None:
        """``(shape, value overrides, every override parsed)`` or None when Hydra must compose it whole."""
        from hydra.core.override_parser.overrides_parser import OverridesParser

        hydra_overrides = list(OmegaConf.to_container(master_config.hydra.overrides.hydra))
        parsed = OverridesParser.create().parse_overrides(hydra_overrides + sweep_overrides)
        shape, values = [], []
        for o in parsed[len(hydra_overrides):]:
            if o.is_sweep_override():
                return None
            if o.is_hydra_override() or o.package is not None or self.loader.repository.group_exists(o.key_or_group):
                shape.append(o.input_line)
            else:
                values.append(o)
        return (master_config.hydra.job.config_name, tuple(hydra_overrides), tuple(shape)), values, parsed


def _search_path(loader: Any) -> tuple[Any, ...]:
    return tuple((e.provider, e.path) for e in loader.get_search_path().get_path())


def _apply(base: DictConfig, master_config: DictConfig, values: list[Any], parsed: list[Any]) -> DictConfig:
    """A copy of ``base`` with ``values`` applied and Hydra's bookkeeping of ``parsed`` redone."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl, get_overrides_dirname

    cfg = copy.deepcopy(base)
    ConfigLoaderImpl._apply_overrides_to_config(values, cfg)
    app_overrides = [o for o in parsed if not o.is_hydra_override()]
    conf = cfg.hydra.job.config.override_dirname
    with open_dict(cfg.hydra):
        cfg.hydra.overrides.task = [o.input_line for o in app_overrides]
        for key in cfg.hydra.job.env_copy:
            cfg.hydra.job.env_set[key] = os.environ[key]
        cfg.hydra.runtime.cwd = os.getcwd()
        cfg.hydra.job.override_dirname = get_overrides_dirname(
            overrides=app_overrides, kv_sep=conf.kv_sep, item_sep=conf.item_sep, exclude_keys=conf.exclude_keys)
    OmegaConf.copy_cache(from_config=master_config, to_config=cfg)
    return cfg
