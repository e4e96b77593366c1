"""How long the sweep report takes on a 1,000-trial sweep in a scratch SQLite store.

    .venv/bin/python bench/report_time.py [--trials 1000] [--steps 15] [--folder /tmp/report_bench]
    .venv/bin/python bench/report_time.py --uri http://127.0.0.1:5077 --parent RUN_ID   # an existing sweep

Writes a synthetic sweep (a parent and one child run per trial: 6 parameters, per-step intermediate
values, ~15% pruned, ~3% failed with a multi-line error) with MLflow's own client, then times: the
curve fetch alone (sequential and with ``curves.WORKERS`` threads), ``write_report`` as the sweeper
calls it after a batch (cold, then warm with the curve cache), and the final ``write_report``.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mlflow.entities import Metric, Param, RunTag  # noqa: E402

from pipeline.tracking import names  # noqa: E402
from pipeline.tracking.store import get_client  # noqa: E402

SPACE = {"optimizer.lr": "tag(log,interval(0.0001,0.1))", "model.hidden_dim": "int(interval(16,256))",
         "model.num_layers": "1,2,3", "regularization.dropout": "interval(0.0,0.5)",
         "optimizer.weight_decay": "tag(log,interval(0.000001,0.01))", "model.activation": "relu,tanh,gelu"}


def build(uri: str, n: int, steps: int, seed: int = 0) -> str:
    """A finished sweep of ``n`` trials in ``uri``; returns the parent run's id."""
    from pipeline.search.space import SearchSpace

    client, rng = get_client(uri), np.random.default_rng(seed)
    exp = client.create_experiment(f"bench-{time.time_ns()}")
    space = SearchSpace.from_grammar(SPACE)
    parent = client.create_run(exp, tags={names.SWEEP_TAG: "random", "sweep.space": json.dumps(SPACE),
                                          "sweep.direction": "maximize", "sweep.n_trials": str(n)}).info.run_id
    t0 = int(time.time() * 1000) - n * 20_000
    for k, p in enumerate(space.decode(rng.random((n, space.dim)))):
        value = 0.9 - 0.05 * (math.log10(p["optimizer.lr"]) + 2.5) ** 2 - 0.1 * p["regularization.dropout"]
        state = "failed" if rng.random() < 0.03 else "pruned" if rng.random() < 0.15 else "complete"
        start = t0 + k * 15_000 + int(rng.integers(0, 5_000))
        _child(client, exp, parent, k, p, state, value + 0.01 * rng.standard_normal(), start, steps)
    client.set_terminated(parent, "FINISHED")
    return parent


def _child(client, exp, parent, k, params, state, value, start, steps) -> None:
    tags = {names.PARENT_RUN_TAG: parent, names.TRIAL_NUMBER_TAG: str(k), names.OBJECTIVE_METRIC_TAG: "val_accuracy",
            "mlflow.runName": f"trial-{k:03d}"}
    run = client.create_run(exp, start_time=start, tags=tags).info.run_id
    n_steps = steps if state == "complete" else max(1, steps // 3)
    metrics = [Metric(names.INTERMEDIATE, value - 0.2 / (s + 1), start + s * 1000, s) for s in range(n_steps)]
    end_tags = [RunTag(names.TRIAL_STATE_TAG, state)]
    if state == "complete":
        metrics += [Metric("cv_mean", value, start, 0), Metric("cv_std", 0.01, start, 0),
                    Metric("test_accuracy", value - 0.01, start, 0)]
    elif state == "pruned":
        metrics.append(Metric("pruned_value", metrics[-1].value, start, 0))
        end_tags.append(RunTag(names.PRUNED_TAG, "true"))
    else:
        end_tags.append(RunTag(names.ERROR_TAG, "Traceback (most recent call last):\n  ...\n"
                                             f"NonFiniteLossError: training loss became nan at epoch {k % 7}"))
    client.log_batch(run, metrics=metrics, params=[Param(n, str(v)) for n, v in params.items()], tags=end_tags)
    client.set_terminated(run, "FAILED" if state == "failed" else "FINISHED", end_time=start + 10_000)


def timed(label: str, fn):
    t = time.perf_counter()
    out = fn()
    print(f"{label:<48} {time.perf_counter() - t:6.2f} s", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--folder", default="/tmp/report_bench")
    parser.add_argument("--uri", default=None, help="time an existing sweep in this store (with --parent)")
    parser.add_argument("--parent", default=None)
    args = parser.parse_args()
    folder = Path(args.folder)
    if args.uri:
        uri, parent, folder = args.uri, args.parent, folder / "existing"
    else:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        uri = f"sqlite:///{folder / 'mlflow.db'}"
        parent = timed(f"write the synthetic sweep ({args.trials} trials)", lambda: build(uri, args.trials, args.steps))
        print(f"parent run {parent} in {uri}")

    from pipeline.results.insights import curves
    from pipeline.results.insights.history import load_history
    from pipeline.results.report import write_report

    history = timed("load_history (parent + paged children)", lambda: load_history(uri, parent, top_k=0))
    client = get_client(uri)
    timed("curves, sequential", lambda: curves.fetch_curves(client, uri, history, workers=1))
    timed(f"curves, {curves.WORKERS} threads", lambda: curves.fetch_curves(client, uri, history))
    timed("write_report(final=False), cold curve cache", lambda: write_report(uri, parent, folder / "report"))
    timed("write_report(final=False), warm curve cache", lambda: write_report(uri, parent, folder / "report"))
    timed("write_report(final=True) with PNGs and artifacts",
          lambda: write_report(uri, parent, folder / "report", final=True))
    size = (folder / "report" / "report.html").stat().st_size
    print(f"report.html: {size / 1e6:.1f} MB in {folder / 'report'}")


if __name__ == "__main__":
    main()
