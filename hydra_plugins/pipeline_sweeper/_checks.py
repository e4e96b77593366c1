"""Bad input stops before the first trial: every edge of the search space is composed and checked when the
sweep is planned, not discovered trial by trial.

The points checked: every parameter at its low end, then each parameter in turn at each of its other edge
values (an interval's high end, every choice), the others staying low. Each point's trial config is composed
by Hydra exactly as a trial's would be, so an unknown group or key fails here, once. Then the app's own
validation (``hydra.sweeper.check``: the dotted name of a function that takes the trial's config and raises
on a value it rejects; this project's is ``pipeline.training.checks.check``) runs on every point, in a process of
its own (``Checker``, started first so that it imports the app's code while the configs are composed): the
sweeper never imports the trial's code.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from hydra_plugins.pipeline_sweeper._conditional import ConditionalParams
from hydra_plugins.pipeline_sweeper._plan import SweepPlan
from pipeline.cli import one_line
from pipeline.tracking.store import import_store

MAX_CHOICES = 20  # edge values checked per categorical parameter


def edge_points(space: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(what it checks, params)``: all parameters low, then one parameter at a time at its other edges."""
    edges = {p.name: _edges(p) for p in space.params}
    base = {name: values[0] for name, values in edges.items()}
    active = set(space.active(base))
    yield "the low end of every parameter", {k: v for k, v in base.items() if k in active}
    for name, values in edges.items():  # a parameter inactive at ``base`` is seen where its conditions hold
        for value in values[0 if name not in active else 1:]:
            point = space.activate({**base, name: value}, name)
            yield f"{name}={value!r}", {k: v for k, v in point.items() if k in space.active(point)}


def _edges(param: Any) -> list[Any]:
    if hasattr(param, "choices"):
        return list(param.choices[:MAX_CHOICES])
    return [param.low, param.high] if param.high != param.low else [param.low]


class Checker:
    """The app's check (``hydra.sweeper.check``) in a child process, started before the sweep is planned: the
    child imports the app's code (seconds) while this process composes the configs it will check."""

    def __init__(self, checkers: list[str]) -> None:
        self.checkers = checkers
        self.proc = subprocess.Popen([sys.executable, "-m", "hydra_plugins.pipeline_sweeper._check_child", *checkers],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    @classmethod
    def start(cls, conf: dict[str, Any]) -> Checker | None:
        """``hydra.sweeper.check``: a function's dotted name, or a list of them run one after the other."""
        checkers = conf.get("check")
        checkers = [str(c) for c in ([checkers] if isinstance(checkers, str) else list(checkers or []))]
        return cls(checkers) if checkers else None

    def send(self, configs: list[tuple[str, DictConfig]]) -> None:
        """Hand ``configs`` over (the child reads them while it imports); ``result`` says what it found."""
        stdin, self.proc.stdin = self.proc.stdin, None  # sent here, not by ``communicate``
        try:
            stdin.write(pickle.dumps(configs))
            stdin.close()
        except BrokenPipeError:
            pass  # it ended before reading (the checker cannot be imported): ``result`` says so

    def result(self, plan: SweepPlan) -> None:
        """The first rejection becomes our ``ValueError``."""
        out, err = self.proc.communicate()
        code = self.proc.returncode
        if code == 0:
            return
        lines = out.decode(errors="replace").strip().splitlines()
        if code == 2 and lines:
            label, _, message = lines[-1].partition("\t")
            raise ValueError(where(label, message, plan))
        tail = (err or out).decode(errors="replace").strip().splitlines()
        named = self.checkers[0] if len(self.checkers) == 1 else self.checkers
        raise ValueError(f"hydra.sweeper.check={named!r} could not run: {tail[-1] if tail else code}; expected the "
                         "dotted name of a function that takes a trial's config")

    def close(self) -> None:
        """End the child if it was not needed (bad input found first, nothing to check)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


def check_trials(checker: Checker | None, hydra_context: Any, config: DictConfig, plan: SweepPlan) -> None:
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
            raise ValueError(where(label, one_line(e), plan)) from None
        configs.append((label, cfg))
    if checker is not None:
        checker.send(configs)
        # MLflow's store code imports meanwhile (seconds); nothing is written before the checker answers, and a
        # rejection is said as soon as it comes, without waiting for the import
        importing = threading.Thread(target=import_store, args=(plan.uri,), daemon=True, name="import-store")
        importing.start()
        checker.result(plan)
        importing.join()


def where(label: str, message: str, plan: SweepPlan) -> str:
    """The line that says what was rejected: the message alone when it names a value the command line fixed
    (``optimizer.lr=-1 is invalid: ...``), with the searched point it was found at when it names a searched
    parameter, or says nothing of the value (Hydra's ``Could not find 'model/foo'``)."""
    key = _named_key(message)
    searched = {n.lstrip("+") for n in plan.space.names}
    if not plan.space.dim or (key is not None and key not in searched):
        return message
    if key is None:
        return f"trial config at {label}: {message}"
    return message if message.startswith(label) else f"{message} (searched point: {label})"


def _named_key(message: str) -> str | None:
    """``optimizer.lr`` of ``optimizer.lr=-1 is invalid ...``; None when the message does not start with a key."""
    head = message.split(" ", 1)[0]
    key, sep, _ = head.partition("=")
    return key.lstrip("+") if sep and key.replace(".", "").replace("_", "").replace("+", "").isalnum() else None


def trial_config(cfg: DictConfig) -> DictConfig:
    """The config a task function receives: the job's, without its ``hydra`` node (set as HydraConfig)."""
    from hydra.core.hydra_config import HydraConfig

    HydraConfig.instance().set_config(cfg)
    out = OmegaConf.create(OmegaConf.to_container(cfg, resolve=False))
    with open_dict(out):
        out.pop("hydra", None)
    return out
