"""Time of one ``ask`` after N told random observations: our ``bayes`` vs Optuna's ``GPSampler``.

Both optimizers see the same N uniformly random points and their values, are built fresh (so each
fits its GP from scratch, as on a resumed sweep), and run with the same torch/BLAS thread count.
Prints the median of ``--repeats`` asks per N and space, side by side, and the ratio ours / Optuna.

    python bench/ask_time.py --sizes 50,200,500,1000 --repeats 3 --threads 2 --out bench/results/ask_time.txt
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
import warnings
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.bo_benchmark import _optuna_dists  # noqa: E402
from bench.problems import PROBLEMS, Problem  # noqa: E402
from pipeline.search import make_optimizer  # noqa: E402

SPACES = ("hartmann6", "mixed7")


def history(problem: Problem, n: int, seed: int) -> list[tuple[dict[str, Any], float]]:
    """``n`` uniformly random points of ``problem`` (seeded) with their objective values."""
    rng = np.random.default_rng(seed)
    points = problem.space.decode(rng.random((n, problem.space.dim)))
    return [(dict(p), float(problem.objective(p))) for p in points]


def time_ours(problem: Problem, hist: list[tuple[dict[str, Any], float]], seed: int, threads: int) -> float:
    opt = make_optimizer("bayes", problem.space, seed=seed, n_threads=threads)
    for p, v in hist:
        opt.tell(p, v)
    t0 = time.perf_counter()
    opt.ask()
    return time.perf_counter() - t0


def time_optuna(problem: Problem, hist: list[tuple[dict[str, Any], float]], seed: int) -> float:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore")
    dists = _optuna_dists(problem)
    study = optuna.create_study(sampler=optuna.samplers.GPSampler(seed=seed))
    study.add_trials([optuna.trial.create_trial(params=p, distributions=dists, value=v) for p, v in hist])
    t0 = time.perf_counter()
    study.ask(dists)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="50,200,500,1000")
    ap.add_argument("--spaces", default=",".join(SPACES))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2, help="torch/BLAS threads for both optimizers")
    ap.add_argument("--out", default=None, help="also write the table here")
    args = ap.parse_args(argv)
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(args.threads)
    lines = [f"one ask after N random observations; median of {args.repeats}; {args.threads} threads",
             f"{'space':<10}{'N':>6}{'ours (s)':>11}{'optuna (s)':>12}{'ours/optuna':>13}"]
    with threadpool_limits(limits=args.threads):
        for name in args.spaces.split(","):
            problem = PROBLEMS[name]
            for n in (int(s) for s in args.sizes.split(",")):
                ours, theirs = [], []
                for rep in range(args.repeats):
                    hist = history(problem, n, rep)
                    ours.append(time_ours(problem, hist, rep, args.threads))
                    theirs.append(time_optuna(problem, hist, rep))
                a, b = float(np.median(ours)), float(np.median(theirs))
                lines.append(f"{name:<10}{n:>6}{a:>11.3f}{b:>12.3f}{a / b if b > 0 else math.inf:>13.2f}")
                print(lines[-1], file=sys.stderr, flush=True)
    print("\n".join(lines))
    if args.out:
        with open(args.out, "w") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
