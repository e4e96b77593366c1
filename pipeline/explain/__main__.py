"""Explain a logged run: a trial's refit model, or a sweep (its report with how each hyperparameter acted, and its
best trial's model).

    python -m pipeline.explain RUN_ID [--tracking-uri URI] [--out DIR] [--samples 6]

A trial's explanation is logged as ``explain/*`` artifacts of its run (the page ``explain/explanation.html``) and
tagged ``explain.*`` on the run and on every registered version made from it. A sweep's parent run gets its final
report again (``report/``), with the partial dependences, interactions and ablation path. What cannot be explained
(a model without gradients) is one line; the rest is still written. Exit 2 with one line for a run that has no
refit model to explain.
"""

from __future__ import annotations

import argparse
import logging
import sys

from pipeline import runtime
from pipeline.cli import one_line_errors
from pipeline.explain.build import ATTRIBUTED, EXPLAIN_DIR, PAGE, explain_best, explain_trial
from pipeline.tracking import runs
from pipeline.tracking.names import SWEEP_TAG
from pipeline.tracking.store import MLFLOW_DEFAULTS, existing_store, get_client, resolve_tracking_uri


@one_line_errors
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.explain", description=__doc__.splitlines()[0])
    parser.add_argument("run_id", help="a trial's run (with a refit model), or a sweep's parent run")
    parser.add_argument("--tracking-uri", default=None, help="default: MLFLOW_TRACKING_URI or the project store")
    parser.add_argument("--out", default=None, help="also write the files into this folder")
    parser.add_argument("--samples", type=_positive, default=ATTRIBUTED, help="test samples to attribute")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    runtime.start(MLFLOW_DEFAULTS)
    uri = existing_store(resolve_tracking_uri(args.tracking_uri))
    run = runs.get_run(get_client(uri), args.run_id, uri)
    if SWEEP_TAG in run.data.tags:
        from pipeline.results.report import generate_report

        generate_report(uri, args.run_id, out_dir=args.out)
        explain_best(uri, args.run_id)
        return 0
    found = explain_trial(uri, args.run_id, out_dir=args.out, n_attributed=args.samples)
    scores = ", ".join(f"{k} {v:.4g}" for k, v in found.summary.items())
    print(f"Explained run {args.run_id} in {found.seconds:.1f} s ({scores}): artifact {EXPLAIN_DIR}/{PAGE}"
          + (f", also in {args.out}" if args.out else ""), flush=True)
    return 0


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"--samples={text} is invalid: expected an integer >= 1")
    return value


if __name__ == "__main__":
    sys.exit(main())
