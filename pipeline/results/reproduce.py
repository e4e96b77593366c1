"""Re-run a logged trial from its recorded overrides and check that every summary metric matches.

    python -m pipeline.reproduce RUN_ID [--tracking-uri URI]
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
from typing import Any

from pipeline import runtime
from pipeline.cli import one_line_errors
from pipeline.tracking import runs
from pipeline.tracking.names import (
    OVERRIDES_TAG,
    PYTHONPATH_TAG,
    REPRODUCES_KEY,
    SEARCHPATH_TAG,
    TIMING_METRICS,
    URI_KEY,
    without_sweeper_keys,
)
from pipeline.tracking.store import MLFLOW_DEFAULTS, PROJECT_ROOT, existing_store, get_client, resolve_tracking_uri


def recorded_overrides(run: Any) -> list[str]:
    """The user's overrides of ``run`` (the sweeper's bookkeeping overrides removed)."""
    raw = run.data.tags.get(OVERRIDES_TAG)
    if raw is None:
        raise SystemExit(f"run {run.info.run_id} has no {OVERRIDES_TAG!r} tag: it was not logged by train.py")
    return without_sweeper_keys(json.loads(raw))


def compose(overrides: list[str], searchpath: list[str] | None = None) -> Any:
    """Compose the project's config with ``overrides`` (and the config folders of ``searchpath``), as
    ``train.py`` does."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from pipeline.cli import ignore_schema_match_warning

    ignore_schema_match_warning()
    with initialize_config_dir(config_dir=str(PROJECT_ROOT / "conf"), version_base="1.3"):
        extra = [f"hydra.searchpath=[{','.join(searchpath)}]"] if searchpath else []
        return hydra_compose("config", overrides=[*overrides, *extra])


def compare(original: dict[str, float], new: dict[str, float]) -> list[tuple[str, float, float, bool]]:
    """Rows ``(metric, original, new, equal)`` for every summary metric of the new run."""
    rows = []
    for key in sorted(new):
        if key in TIMING_METRICS or key not in original:
            continue
        a, b = original[key], new[key]
        rows.append((key, a, b, a == b or (math.isnan(a) and math.isnan(b))))
    return rows


@one_line_errors
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.reproduce", description=__doc__.splitlines()[0])
    parser.add_argument("run_id")
    parser.add_argument("--tracking-uri", default=None, help="default: MLFLOW_TRACKING_URI or the project store")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    runtime.start(MLFLOW_DEFAULTS)
    uri = existing_store(resolve_tracking_uri(args.tracking_uri))
    run = runs.get_run(get_client(uri), args.run_id, uri)
    from pipeline.trial import run_trial  # torch and the rest, once the run is known to be there

    overrides = recorded_overrides(run) + [f"{URI_KEY}={uri}", f"+{REPRODUCES_KEY}={args.run_id}"]
    searchpath = json.loads(run.data.tags.get(SEARCHPATH_TAG, "[]"))
    pythonpath = run.data.tags.get(PYTHONPATH_TAG)
    if pythonpath:  # a plug-in's modules, from any folder
        sys.path[:0] = [p for p in pythonpath.split(os.pathsep) if p not in sys.path]
    job = {"name": "reproduce", **({"searchpath": json.dumps(searchpath)} if searchpath else {}),
           **({"pythonpath": pythonpath} if pythonpath else {})}
    result = run_trial(compose(overrides, searchpath), overrides[:-2], job=job)
    rows = compare(run.data.metrics, result.metrics)
    width = max(len(r[0]) for r in rows)
    for key, a, b, ok in rows:
        print(f"{key:<{width}}  {a!r:>22}  {b!r:>22}  {'==' if ok else 'DIFFERS'}")
    same = all(r[3] for r in rows)
    print(f"{'all' if same else 'NOT all'} {len(rows)} summary metrics of run {args.run_id} reproduced "
          f"(new run {result.run_id})")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
