"""Command-line checks made before Hydra starts, so that a malformed override is named in the error."""

from __future__ import annotations

import logging
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

HYDRA_FLAGS_WITH_VALUE = {"--config-path", "-cp", "--config-name", "-cn", "--config-dir", "-cd", "--cfg", "-c",
                          "--package", "-p", "--info", "-i", "--experimental-rerun"}


def check_overrides(argv: list[str], conf_dir: Path) -> None:
    """Exit with code 2 and one line naming the override when Hydra cannot take it.

    Covers what Hydra reports with a traceback or without naming the override: a syntax error, and a
    config group given a number (``model=0``).
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    parser = OverridesParser.create()
    skip = False
    for arg in argv:
        if skip or arg.startswith("-"):
            skip = arg in HYDRA_FLAGS_WITH_VALUE and not skip
            continue
        try:
            override = parser.parse_override(arg)
        except HydraException as e:
            _fail(f"Cannot parse the override {arg!r}: {str(e).splitlines()[0]}\n"
                  "See https://hydra.cc/docs/advanced/override_grammar/basic/ for the grammar.")
        group = override.key_or_group
        if (conf_dir / group).is_dir() or group.startswith("hydra/"):
            values = override.value().list if override.is_choice_sweep() else [override.value()]
            bad = [v for v in values if not isinstance(v, str) and v is not None]
            if bad and not override.is_delete():
                _fail(f"The override {arg!r} gives config group {group!r} the value {bad[0]!r}; expected the name "
                      f"of an option, e.g. {group}={_first_option(conf_dir / group)}")


def check_composes(argv: list[str], conf_dir: Path, config_name: str = "config") -> None:
    """Exit with code 2 and one line when the config cannot be composed with the command line's fixed overrides
    (an unknown group, option or key), where Hydra prints several lines and exits 1. Swept values are composed
    and checked by the sweeper, for every edge of the space, before its first trial."""
    from hydra import compose, initialize_config_dir
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    parser, fixed, skip = OverridesParser.create(), [], False
    for arg in argv:
        if skip or arg.startswith("-"):
            skip = arg in HYDRA_FLAGS_WITH_VALUE and not skip
            continue
        if not parser.parse_override(arg).is_sweep_override():
            fixed.append(arg)
    try:
        with initialize_config_dir(str(conf_dir.resolve()), version_base="1.3"):
            compose(config_name, overrides=fixed, return_hydra_config=True)
    except HydraException as e:
        _fail(one_line(e))


def one_line(e: BaseException) -> str:
    """Hydra's multi-line message on one line: without OmegaConf's ``full_key``/``object_type`` trailer, a list of
    available options joined with commas; an override Hydra could not merge says what its key expected."""
    merged = _merge_error(e)
    if merged is not None:
        return merged
    lines = [line.strip() for line in str(e).split("Config search path:")[0].splitlines()]
    kept = [line.rstrip(".") for line in lines
            if line and not line.startswith(("full_key:", "object_type=", "reference_type="))]
    out: list[str] = []
    for line in kept:
        if out and out[-1].endswith(":") and out[-1].startswith("Available options"):
            out[-1] += " " + line
        elif out and out[-1].startswith("Available options") and not line.endswith(":"):
            out[-1] += ", " + line
        else:
            out.append(line)
    text = "; ".join(out).replace("Available options in", "expected one of the options in")
    if text.startswith("Could not override") and "expected" not in text:
        text += "; expected a key the composed config has (a key of another option of its group is not)"
    return text or type(e).__name__


def _merge_error(e: BaseException) -> str | None:
    """``Error merging override hydra.sweeper.seed=abc`` (caused by OmegaConf's "Value 'abc' of type 'str' could not
    be converted to Integer") -> ``hydra.sweeper.seed=abc is invalid: expected an integer (...)``."""
    import re

    head = str(e).strip()
    cause = (str(getattr(e.__cause__, "msg", None) or e.__cause__ or "").strip().splitlines() or [""])[0]
    if not head.startswith("Error merging override ") or not cause:
        return None
    override = head.removeprefix("Error merging override ").strip()
    kind = re.search(r"could not be converted to (\w+)|is not a valid (\w+)", cause)
    if kind is None:
        return f"{override} is invalid: {cause}; expected a value of the key's type"
    name = (kind[1] or kind[2]).lower()
    expected = "true or false" if name in ("bool", "boolean") else f"{'an' if name[0] in 'aeiou' else 'a'} {name}"
    return f"{override} is invalid: expected {expected} ({cause})"


def absolute_searchpath(entries: list[str], cwd: str) -> list[str]:
    """``hydra.searchpath`` entries with relative ``file://`` folders made absolute (from ``cwd``)."""
    out = []
    for entry in entries:
        scheme, sep, path = str(entry).partition("://")
        if sep and scheme == "file" and not Path(path).is_absolute():
            entry = f"file://{(Path(cwd) / path).resolve()}"
        elif not sep and not Path(entry).is_absolute():
            entry = str((Path(cwd) / entry).resolve())
        out.append(entry)
    return out


def rerun_command(script: str, overrides: list[str], searchpath: list[str] | None = None, cwd: str | None = None,
                  pythonpath: str | None = None) -> str:
    """The one-line shell command that runs ``script`` with ``overrides`` again, from any folder: the config
    folders it was composed with (``hydra.searchpath``, absolute) and the ``PYTHONPATH`` a plug-in model's module
    was imported through, made absolute from ``cwd`` (the folder the command was started in)."""
    import os
    import shlex

    base = cwd or os.getcwd()
    words = ["python", script, *overrides]
    if searchpath:
        words.append(f"hydra.searchpath=[{','.join(absolute_searchpath(list(searchpath), base))}]")
    command = shlex.join(words)
    if pythonpath:
        command = f"PYTHONPATH={shlex.quote(absolute_pythonpath(pythonpath, base))} {command}"
    return command


def absolute_pythonpath(value: str, cwd: str) -> str:
    """A ``PYTHONPATH`` with its relative folders made absolute (from ``cwd``)."""
    import os

    return os.pathsep.join(str((Path(cwd) / p).resolve()) for p in value.split(os.pathsep) if p)


class TrialFormatter(logging.Formatter):
    """The trial's log lines (``hydra.job_logging``): ``{trial}`` in ``fmt`` is the trial's name in a sweep
    (``trial-007``, as its run and the sweeper's lines call it; Hydra's job number is the trial's), ``-`` alone."""

    def __init__(self, fmt: str, job: Any = None, datefmt: str | None = None, **hydras: Any) -> None:
        """``hydras``: what Hydra's default formatter sets beside (its ``format``), merged in and not used."""
        from pipeline.tracking.names import trial_run_name

        label = trial_run_name(int(job)) if str(job).isdigit() else "-"
        super().__init__(fmt.replace("{trial}", label), datefmt)


def register_resolvers() -> None:
    """Resolvers the project's config uses: ``${activate_env:}`` (conf/hydra/launcher/slurm.yaml)."""
    from omegaconf import OmegaConf

    OmegaConf.register_new_resolver("activate_env", activate_env, replace=True)


def activate_env() -> str:
    """The shell line that activates the virtual environment this process runs in, for jobs started elsewhere
    (a SLURM job's ``setup``); a no-op line outside a virtual environment."""
    import shlex

    if sys.prefix == sys.base_prefix:
        return ": no virtual environment to activate"
    return f"source {shlex.quote(str(Path(sys.prefix) / 'bin' / 'activate'))}"


def ignore_schema_match_warning() -> None:
    """conf/hydra/sweeper/{bayes,random}.yaml extend the sweeper plugin's nodes of the same names on purpose
    (they add the project's default search space); Hydra warns, at every start, that it matches them against
    those nodes' schemas."""
    # the plugin owns the names of its nodes, and the warning's pattern (in its light, public config module)
    from hydra_plugins.pipeline_sweeper.config import SCHEMA_MATCH_WARNING

    warnings.filterwarnings("ignore", message=SCHEMA_MATCH_WARNING, category=UserWarning)


def one_line_errors(main: Callable[[list[str] | None], int]) -> Callable[[list[str] | None], int]:
    """A ``python -m pipeline.*`` command whose errors that say it all (a bad value, a run the store does not have,
    data that cannot load) end it with their one line on stderr and exit status 2, not a traceback."""
    import functools

    from pipeline.errors import ConfigError, DataError, TrackingError

    @functools.wraps(main)
    def command(argv: list[str] | None = None) -> int:
        try:
            return main(argv)
        except (ConfigError, DataError, TrackingError) as e:
            sys.stderr.write(f"{e}\n")
            return 2

    return command


def exit_now(code: int = 0) -> None:
    """Exit after the interpreter's exit steps but before its teardown: with torch, MLflow and SQLAlchemy
    loaded, freeing every module's objects takes seconds after the command's last line.

    What a normal exit does first is done here too, in its order: the thread pools' exit hooks (loky's and
    ``concurrent.futures``' executors shut down), waiting for non-daemon threads, the ``atexit`` handlers (logging's
    flush, MLflow's, temporary folders), flushing the standard streams. Only for a command that
    ended well: an error goes through the normal exit with its traceback or exit code.
    """
    import atexit
    import os
    import threading

    shutdown = getattr(threading, "_shutdown", None)  # what the interpreter runs first: the pools' exit hooks
    if shutdown is not None:                          # (concurrent.futures, loky), then joins non-daemon threads
        shutdown()
    else:  # pragma: no cover - CPython has it
        for thread in threading.enumerate():
            if thread is not threading.main_thread() and not thread.daemon:
                thread.join()
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _first_option(folder: Path) -> str:
    names = sorted(p.stem for p in folder.glob("*.yaml"))
    return names[0] if names else "NAME"


def _fail(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.exit(2)
