"""From a command line to a checked plan and its optimizer: the options first, then the store, the conditions the
config groups imply, the default configuration, and every edge of the space composed and validated before anything
is written (``_checks``)."""

from __future__ import annotations

import shlex
import sys
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.types import HydraContext
from omegaconf import DictConfig

from hydra_plugins.pipeline_sweeper._checks import Checker, check_trials
from hydra_plugins.pipeline_sweeper._conditional import with_group_conditions
from hydra_plugins.pipeline_sweeper._defaults import with_defaults
from hydra_plugins.pipeline_sweeper._optimizer import make_sweep_optimizer
from hydra_plugins.pipeline_sweeper._options import parse_arguments
from hydra_plugins.pipeline_sweeper._plan import Command, SweepPlan, build_plan, script_path
from hydra_plugins.pipeline_sweeper._store import export_credentials, sweep_store


def checked_plan(conf: dict[str, Any], config: DictConfig, hydra_context: HydraContext, arguments: list[str]
                 ) -> tuple[SweepPlan, Any]:
    """The plan of ``arguments`` (the sweep's command line) under the sweeper's ``conf`` and the app's ``config``,
    and its optimizer; a bad value raises before anything is written."""
    loader = hydra_context.config_loader
    space, fixed = parse_arguments(OverridesParser.create(config_loader=loader).parse_overrides(arguments))
    command = Command(space, fixed, shlex.join(["python", *sys.argv]), script_path(sys.argv[0]))
    checker = Checker.start(conf)
    try:
        uri, credentials = sweep_store(conf, config)
        export_credentials(credentials)
        plan = with_group_conditions(build_plan(conf, config, command, uri), loader, config)
        plan = with_defaults(plan, loader, config)
        optimizer, plan = make_sweep_optimizer(plan)
        check_trials(checker, hydra_context, config, plan)
    finally:
        if checker is not None:
            checker.close()
    return plan, optimizer
