"""The sweep's console lines about launches: each launcher's per-job line (``#7 : <every override>``, Hydra's
basic, joblib, submitit and Ray launchers alike) shows the trial's name and its searched values only,
``trial-007 : optimizer.lr=0.0123 model.hidden_dim=64``; the whole line (fixed overrides, the store, the parent
run) goes to this module's logger at debug level (``hydra.verbose=hydra_plugins.pipeline_sweeper._console``)."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from pipeline.tracking import names

log = logging.getLogger(__name__)
LAUNCHER_LOGGERS = ("hydra._internal.core_plugins.basic_launcher", "hydra_plugins.hydra_joblib_launcher._core",
                    "hydra_plugins.hydra_submitit_launcher.submitit_launcher", "hydra_plugins.hydra_ray_launcher._core",
                    "hydra_plugins.hydra_ray_launcher._core_aws")
JOB_LINE = re.compile(r"\s*#(\d+) : (.*)", re.S)
OVERRIDE = re.compile(r"""(?:[^\s'"]|'[^']*'|"[^"]*")+""")  # one override: quoted values keep their spaces


class LaunchLines(logging.Filter):
    """Rewrites a launcher's per-job line to the trial's name and searched values. The trial is told by the line's
    overrides (``expect``: a launcher may number a launch's jobs from 0, joblib's does), else by the job index
    (the sweeper launches with ``initial_job_idx`` set to the first trial's number)."""

    def __init__(self, searched: Iterable[str]) -> None:
        super().__init__()
        self.searched = {k.lstrip("+~") for k in searched}
        self.expected: dict[str, list[int]] = {}

    def expect(self, number: int, overrides: Iterable[str]) -> None:
        """Trial ``number`` is launched with ``overrides``: its line lists those not under ``hydra.``, as
        Hydra's launchers print them (``hydra.core.utils.filter_overrides``)."""
        self.expected.setdefault(_line(overrides), []).append(number)

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        match = JOB_LINE.fullmatch(text)
        if match is None:
            return True
        log.debug("%s", text.strip())
        waiting = self.expected.get(match[2].strip())
        number = waiting.pop(0) if waiting else int(match[1])
        shown = [o for o in OVERRIDE.findall(match[2]) if names.override_key(o) in self.searched]
        record.msg, record.args = "\t%s : %s", (names.trial_run_name(number), " ".join(shown) or "(no searched "
                                                                                              "parameter)")
        return True


def _line(overrides: Iterable[str]) -> str:
    return " ".join(o for o in overrides if not o.startswith("hydra.")).strip()


@contextmanager
def launch_lines(searched: Iterable[str], launcher: Any) -> Iterator[LaunchLines]:
    """While the sweep runs, the launchers' per-job lines as ``LaunchLines`` writes them."""
    loggers = [logging.getLogger(n) for n in sorted({*LAUNCHER_LOGGERS, type(launcher).__module__})]
    rewrite = LaunchLines(searched)
    for logger in loggers:
        logger.addFilter(rewrite)
    try:
        yield rewrite
    finally:
        for logger in loggers:
            logger.removeFilter(rewrite)
