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
job's group overrides (groups as Hydra sees them, ``hydra.searchpath`` folders included); config files edited
during a sweep are not read again, a new sweep reads them afresh. ``tests/hydra_plugins/test_compose.py`` compares both
paths config by config.
"""

from __future__ import annotations

import copy
import os
import threading
import uuid
import warnings
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from hydra_plugins.pipeline_sweeper.config import SCHEMA_MATCH_WARNING
from pipeline import runtime

MAX_SHAPES = 64  # composed shapes kept (each is one job config, ~100 KB)
# Launchers that compose in their workers (joblib) ship a fresh copy of the loader with every job: a worker keeps
# what its sweep composed across the jobs it runs, on the process's object (``pipeline.runtime``), keyed by the
# sweep's token; the last few sweeps.
MAX_SWEEPS = 4


class _State:
    """What one sweep has composed: shapes, and the config repository Hydra builds per ``hydra.*`` overrides (the
    app's ``hydra.searchpath`` folders included) to tell groups from keys."""

    def __init__(self) -> None:
        self.shapes: dict[tuple[Any, ...], DictConfig] = {}
        self.repos: dict[tuple[Any, ...], Any] = {}
        self.lock = threading.Lock()  # launch threads compose one at a time (``_launches``), tests may not


class ComposeCache:
    """A Hydra config loader whose ``load_sweep_config`` reuses each shape's composition."""

    def __init__(self, loader: Any, token: str | None = None) -> None:
        self.loader, self.token = loader, token or uuid.uuid4().hex
        if token is None:
            self._state = _State()
        else:  # a copy in a worker: the state its sweep's earlier jobs left in this process
            kept = runtime.process().composed
            self._state = kept.setdefault(token, _State())
            while len(kept) > MAX_SWEEPS:
                kept.pop(next(iter(kept)))
        self.hydra_composes = 0  # whole compositions by Hydra: one per shape, and one per job Hydra must compose

    def __getattr__(self, name: str) -> Any:  # the rest of the loader's API, as it is
        if name.startswith("__") or name in ("loader", "token", "_state", "hydra_composes"):
            raise AttributeError(name)
        return getattr(self.loader, name)

    def __getstate__(self) -> dict[str, Any]:  # launchers ship their context to workers: the loader and the token
        return {"loader": self.loader, "token": self.token}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["loader"], state["token"])  # type: ignore[misc]

    def load_sweep_config(self, master_config: DictConfig, sweep_overrides: list[str]) -> DictConfig:
        try:
            split = self._split(master_config, list(sweep_overrides))
        except Exception:  # noqa: BLE001 - Hydra's own path raises Hydra's own error for it
            split = None
        if split is None:
            return self._hydra(master_config, sweep_overrides)
        shape, values, parsed = split
        shapes = self._state.shapes
        with self._state.lock:
            base = shapes.get(shape)
            if base is None:
                base = self._hydra(master_config, list(shape[2]))
                if len(shapes) >= MAX_SHAPES:
                    shapes.pop(next(iter(shapes)))
                shapes[shape] = base
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
        name = master_config.hydra.job.config_name
        repo = self._repo(name, hydra_overrides)
        choices = set(master_config.hydra.runtime.get("choices") or {})
        shape, values = [], []
        for o in parsed[len(hydra_overrides):]:
            if o.is_sweep_override() or o.get_key_element() == "hydra.searchpath":
                return None
            if o.is_hydra_override() or o.package is not None or o.key_or_group in choices or \
                    repo.group_exists(o.key_or_group):
                shape.append(o.input_line)
            else:
                values.append(o)
        return (name, tuple(hydra_overrides), tuple(shape)), values, parsed

    def _repo(self, config_name: str | None, hydra_overrides: list[str]) -> Any:
        """The config repository Hydra composes from, ``hydra.searchpath`` folders included: a group that exists
        only there is a group, not a key."""
        key = (config_name, tuple(hydra_overrides))
        with self._state.lock:
            if key not in self._state.repos:
                _, self._state.repos[key] = self.loader._parse_overrides_and_create_caching_repo(config_name,
                                                                                                 hydra_overrides)
            return self._state.repos[key]


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
