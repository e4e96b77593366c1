"""Bad input stops before the first trial: every edge of the search space is composed and checked when the
sweep is planned, not discovered trial by trial.

The points checked: every parameter at its low end, then each parameter in turn at each of its other edge
values (an interval's high end, every choice), the others staying low. Each point's trial config is composed
by Hydra exactly as a trial's would be, so an unknown group or key fails here, once. Then the app's own
validation (``hydra.sweeper.check``: the dotted name of a function that takes the trial's config and raises
on a value it rejects; this project's is ``pipeline.config.check``) runs on every point, in a process of
its own: the sweeper never imports the trial's code.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from hydra_plugins.pipeline_sweeper._plan import ConditionalParams, SweepPlan
from pipeline.cli import one_line

MAX_CHOICES = 20  # edge values checked per categorical parameter


def edge_points(space: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(what it checks, params)``: all parameters low, then one parameter at a time at its other edges."""
    edges = {p.name: _edges(p) for p in space.params}
    base = {name: values[0] for name, values in edges.items()}
    yield "the low end of every parameter", dict(base)
    for name, values in edges.items():
        for value in values[1:]:
            yield f"{name}={value!r}", {**base, name: value}


def _edges(param: Any) -> list[Any]:
    if hasattr(param, "choices"):
        return list(param.choices[:MAX_CHOICES])
    return [param.low, param.high] if param.high != param.low else [param.low]


def check_trials(conf: dict[str, Any], hydra_context: Any, config: DictConfig, plan: SweepPlan) -> None:
    """Raise ``ValueError`` with one line naming the first value a trial would reject."""
    if plan.resume and not plan.space.dim and not plan.fixed:
        return
    conditional = ConditionalParams(hydra_context, config, plan)
    loader = hydra_context.config_loader
    configs: list[tuple[str, DictConfig]] = []
    for label, params in edge_points(plan.space):
        try:
            cfg = loader.load_sweep_config(config, plan.overrides(conditional.active(params)))
        except Exception as e:  # noqa: BLE001 - Hydra's composition errors, as one line
            raise ValueError(f"{_where(label, plan)}: {one_line(e)}") from None
        configs.append((label, cfg))
    checker = conf.get("check")
    if checker:
        _run_checker(str(checker), configs, plan)


def _where(label: str, plan: SweepPlan) -> str:
    return "the command line's overrides" if not plan.space.dim else f"trial config at {label}"


def _run_checker(checker: str, configs: list[tuple[str, DictConfig]], plan: SweepPlan) -> None:
    """Run ``checker`` on each config in a child process; its first rejection becomes our ``ValueError``."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "configs.pkl"
        path.write_bytes(pickle.dumps([(label, cfg) for label, cfg in configs]))
        done = subprocess.run([sys.executable, "-m", "hydra_plugins.pipeline_sweeper._check_child", checker,
                               str(path)], capture_output=True, text=True)
    if done.returncode == 0:
        return
    lines = done.stdout.strip().splitlines()
    if done.returncode == 2 and lines:
        label, _, message = lines[-1].partition("\t")
        raise ValueError(f"{_where(label, plan)}: {message}")
    tail = (done.stderr or done.stdout).strip().splitlines()
    raise ValueError(f"hydra.sweeper.check={checker!r} could not run: {tail[-1] if tail else done.returncode}")


def trial_config(cfg: DictConfig) -> DictConfig:
    """The config a task function receives: the job's, without its ``hydra`` node (set as HydraConfig)."""
    from hydra.core.hydra_config import HydraConfig

    HydraConfig.instance().set_config(cfg)
    out = OmegaConf.create(OmegaConf.to_container(cfg, resolve=False))
    with open_dict(out):
        out.pop("hydra", None)
    return out
