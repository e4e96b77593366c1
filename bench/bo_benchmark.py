"""Side-by-side benchmark of this project's ``bayes`` and ``random`` against Optuna, hyperopt, skopt.

Prints, per problem, each optimizer's median final simple regret (best value where the optimum is
unknown) and its rank, the mean rank over problems, each optimizer's median time per ask at
``budget`` observations, and (with ``--batch q``) ``bayes`` proposing ``ask(q)`` rounds.

    python bench/bo_benchmark.py --seeds 10 --budget 50 --jobs 2 --batch 4
    python bench/bo_benchmark.py --seeds 2 --budget 20 --problems branin --optimizers bayes,random
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.problems import PROBLEMS, Problem  # noqa: E402
from pipeline.search import make_optimizer  # noqa: E402
from pipeline.search.space import CategoricalParam, FloatParam, IntParam  # noqa: E402

OPTIMIZERS = ("bayes", "random", "optuna_gp", "optuna_tpe", "hyperopt_tpe", "skopt_gp", "bayes_exact", "bayes_fit64")
# Variants of ``bayes`` for checking its large-history approximation: hyperparameters fitted on every
# observation (exact), or on a subset of 64 (the approximation, exercised from 65 observations on).
BAYES_VARIANTS = {"bayes_exact": {"fit_points": 10**9}, "bayes_fit64": {"fit_points": 64}}
RESULTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")

Run = tuple[list[float], float]  # objective values in evaluation order, ask time at `budget` observations


def evaluate(problem: Problem, params: dict[str, Any]) -> float:
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return float(problem.objective(params))


def run_ours(strategy: str, problem: Problem, seed: int, budget: int, batch: int = 1, **options: Any) -> Run:
    opt = make_optimizer(strategy, problem.space, seed=seed, **options)
    values: list[float] = []
    while len(values) < budget:
        points = opt.ask(min(batch, budget - len(values)))
        for p in points:
            values.append(evaluate(problem, p))
            opt.tell(p, values[-1])
    t0 = time.perf_counter()
    opt.ask()
    return values, time.perf_counter() - t0


def _optuna_dists(problem: Problem) -> dict[str, Any]:
    import optuna.distributions as od

    out: dict[str, Any] = {}
    for p in problem.space.params:
        if isinstance(p, FloatParam):
            out[p.name] = od.FloatDistribution(p.low, p.high, log=p.log, step=p.step)
        elif isinstance(p, IntParam):
            out[p.name] = od.IntDistribution(p.low, p.high, log=p.log, step=p.step)
        else:
            out[p.name] = od.CategoricalDistribution(p.choices)
    return out


def run_optuna(kind: str, problem: Problem, seed: int, budget: int) -> Run:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore")
    sampler = optuna.samplers.GPSampler(seed=seed) if kind == "gp" else optuna.samplers.TPESampler(seed=seed)
    study = optuna.create_study(sampler=sampler)
    dists = _optuna_dists(problem)
    values: list[float] = []
    for _ in range(budget):
        trial = study.ask(dists)
        values.append(evaluate(problem, trial.params))
        study.tell(trial, values[-1])
    t0 = time.perf_counter()
    study.ask(dists)
    return values, time.perf_counter() - t0


class _Timed:
    """Objective wrapper for callback-style optimizers: the gap between calls is the ask time."""

    def __init__(self, problem: Problem, budget: int, decode: Callable[[Any], dict[str, Any]]) -> None:
        self.problem, self.budget, self.decode = problem, budget, decode
        self.values: list[float] = []
        self.last_end = time.perf_counter()
        self.ask_time = math.nan

    def __call__(self, raw: Any) -> float:
        if len(self.values) == self.budget:  # the extra call only measures the ask
            self.ask_time = time.perf_counter() - self.last_end
            return 0.0
        self.values.append(evaluate(self.problem, self.decode(raw)))
        self.last_end = time.perf_counter()
        return self.values[-1]


def run_hyperopt(problem: Problem, seed: int, budget: int) -> Run:
    import hyperopt
    from hyperopt import hp

    space = {}
    for p in problem.space.params:
        if isinstance(p, CategoricalParam):
            space[p.name] = hp.choice(p.name, list(p.choices))
        elif p.log:
            space[p.name] = hp.loguniform(p.name, math.log(p.low), math.log(p.high))
        else:
            space[p.name] = hp.uniform(p.name, p.low, p.high)

    ints = {p.name: p for p in problem.space.params if isinstance(p, IntParam)}

    def decode(raw: dict[str, Any]) -> dict[str, Any]:  # hyperopt's uniforms are floats: round the ints
        point = {k: (v.item() if hasattr(v, "item") else v) for k, v in raw.items()}
        for name, p in ints.items():
            point[name] = min(max(int(round(point[name])), p.low), p.high)
        return problem.space.validate(point)

    f = _Timed(problem, budget, decode)
    hyperopt.fmin(f, space, algo=hyperopt.tpe.suggest, max_evals=budget + 1, show_progressbar=False,
                  rstate=np.random.default_rng(seed))
    return f.values, f.ask_time


def run_skopt(problem: Problem, seed: int, budget: int) -> Run:
    from skopt import gp_minimize
    from skopt.space import Categorical, Integer, Real

    dims = []
    for p in problem.space.params:
        prior = "log-uniform" if getattr(p, "log", False) else "uniform"
        if isinstance(p, CategoricalParam):
            dims.append(Categorical(list(p.choices), name=p.name))
        elif isinstance(p, IntParam):
            dims.append(Integer(p.low, p.high, prior=prior, name=p.name))
        else:
            dims.append(Real(p.low, p.high, prior=prior, name=p.name))
    names = problem.space.names
    f = _Timed(problem, budget, lambda x: problem.space.validate(dict(zip(names, [
        v.item() if hasattr(v, "item") else v for v in x]))))
    warnings.filterwarnings("ignore")
    gp_minimize(f, dims, n_calls=budget + 1, random_state=seed)
    return f.values, f.ask_time


def _one_thread() -> None:
    """Each worker process owns one core: torch (ours and Optuna's GPSampler alike) uses one thread."""
    import torch

    torch.set_num_threads(1)


def run_one(task: tuple[str, str, int, int, int]) -> tuple[str, str, int, list[float], float]:
    """Run optimizer ``opt`` on problem ``prob`` with ``seed``; picklable for the process pool."""
    opt, prob, seed, budget, batch = task
    problem = PROBLEMS[prob]
    if opt in ("bayes", "random"):
        values, t = run_ours(opt, problem, seed, budget)
    elif opt in BAYES_VARIANTS:
        values, t = run_ours("bayes", problem, seed, budget, **BAYES_VARIANTS[opt])
    elif opt == "bayes_batch":
        values, t = run_ours("bayes", problem, seed, budget, batch)
    elif opt.startswith("optuna_"):
        values, t = run_optuna(opt.split("_")[1], problem, seed, budget)
    elif opt == "hyperopt_tpe":
        values, t = run_hyperopt(problem, seed, budget)
    elif opt == "skopt_gp":
        values, t = run_skopt(problem, seed, budget)
    else:
        raise ValueError(f"unknown optimizer {opt!r}; expected one of {OPTIMIZERS}")
    return opt, prob, seed, values, t


def _ranks(medians: dict[str, float]) -> dict[str, float]:
    """Rank 1 = lowest median; ties (to 10 significant digits) share their average rank."""
    from scipy.stats import rankdata

    names = list(medians)
    vals = [float(f"{medians[n]:.10g}") for n in names]
    return dict(zip(names, (float(r) for r in rankdata(vals, method="average"))))


def report(results: list[tuple[str, str, int, list[float], float]], opts: list[str], probs: list[str],
           batch: int) -> str:
    """Format the tables (regret per problem with ranks, mean rank, ask time, batch check, targets)."""
    lines: list[str] = []
    best_of: dict[tuple[str, str], list[float]] = {}
    times: dict[str, list[float]] = {}
    for opt, prob, _, values, t in results:
        best_of.setdefault((opt, prob), []).append(float(np.min(values)))
        times.setdefault(opt, []).append(t)
    ranked = [o for o in opts if o != "bayes_batch"]
    ranks_sum = dict.fromkeys(ranked, 0.0)
    lines.append("median final simple regret (best value where the optimum is unknown) [rank]")
    lines.append(f"{'problem':<18}" + "".join(f"{o:>20}" for o in opts))
    regret: dict[tuple[str, str], float] = {}
    for prob in probs:
        opt_val = PROBLEMS[prob].optimum
        ref = opt_val if opt_val is not None else min(min(v) for (o, p), v in best_of.items() if p == prob)
        med = {o: float(np.median(best_of[(o, prob)])) for o in opts if (o, prob) in best_of}
        for o in med:
            regret[(o, prob)] = med[o] - ref
        shown = {o: (med[o] - ref if opt_val is not None else med[o]) for o in med}
        rk = _ranks({o: shown[o] for o in ranked if o in shown})
        for o in rk:
            ranks_sum[o] += rk[o]
        lines.append(f"{prob:<18}" + "".join(
            f"{shown[o]:>13.4g} [{rk[o]:>3.1f}]" if o in rk else f"{shown.get(o, math.nan):>20.4g}" for o in opts))
    lines.append(f"{'mean rank':<18}" + "".join(f"{ranks_sum[o] / len(probs):>20.2f}" if o in ranks_sum else " " * 20
                                                for o in opts))
    lines.append(f"{'ask time (s)':<18}" + "".join(f"{np.median(times.get(o, [math.nan])):>20.3f}" for o in opts))
    lines += _targets(regret, ranks_sum, times, probs, batch)
    return "\n".join(lines)


def _targets(regret: dict[tuple[str, str], float], ranks_sum: dict[str, float], times: dict[str, list[float]],
             probs: list[str], batch: int) -> list[str]:
    lines = ["", "targets"]
    if "optuna_gp" in ranks_sum and "bayes" in ranks_sum:
        wins = [p for p in probs if regret[("bayes", p)] <= regret[("optuna_gp", p)] + 1e-12]
        lines.append(f"  bayes regret <= optuna_gp on {len(wins)}/{len(probs)} problems "
                     f"(need >= {math.ceil(2 * len(probs) / 3)}): {', '.join(wins)}")
        ratio = np.median(times["bayes"]) / np.median(times["optuna_gp"])
        lines.append(f"  ask time bayes / optuna_gp = {ratio:.2f} (need <= 2), bayes {np.median(times['bayes']):.3f}s"
                     " (need < 0.5s)")
    if "bayes" in ranks_sum:
        best = min(ranks_sum, key=ranks_sum.get)
        lines.append(f"  best mean rank: {best} ({ranks_sum[best] / len(probs):.2f}); bayes "
                     f"{ranks_sum['bayes'] / len(probs):.2f}")
    if batch > 1 and ("bayes", probs[0]) in regret and ("bayes_batch", probs[0]) in regret:
        lines.append(f"  batch ask({batch}) median regret / sequential (need <= 1.5):")
        for p in probs:
            s, b = regret[("bayes", p)], regret[("bayes_batch", p)]
            ratio = b / s if s > 0 else math.inf if b > 0 else 1
            lines.append(f"    {p:<18} seq {s:.4g}  batch {b:.4g}  ratio {ratio:.2f}")
    return lines


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--budget", type=int, default=50)
    ap.add_argument("--problems", default=",".join(PROBLEMS))
    ap.add_argument("--optimizers", default=",".join(OPTIMIZERS))
    ap.add_argument("--batch", type=int, default=1, help="also run bayes with ask(BATCH) rounds")
    ap.add_argument("--jobs", type=int, default=1, help="worker processes (each with one torch thread)")
    ap.add_argument("--out", default=None, help="also write the table here (raw runs go to OUT.json as they finish)")
    ap.add_argument("--report", default=None, help="only print the tables from a raw .json written by --out")
    args = ap.parse_args(argv)
    if args.report:
        with open(args.report) as f:
            results = [tuple(r) for r in json.load(f)]
        opts = [o for o in (*OPTIMIZERS, "bayes_batch") if any(r[0] == o for r in results)]
        # a partial run: report the problems every optimizer has reached
        probs = [p for p in PROBLEMS if all(any(r[:2] == (o, p) or tuple(r[:2]) == (o, p) for r in results)
                                            for o in opts)]
        seeds = sorted({r[2] for r in results})
        print(f"partial raw results: {len(results)} runs, seeds {seeds[0]}..{seeds[-1]} (not all complete)\n")
        print(report(results, opts, probs, args.batch))
        return
    probs, opts = args.problems.split(","), args.optimizers.split(",")
    for name in probs:
        if name not in PROBLEMS:
            ap.error(f"unknown problem {name!r}; expected some of {', '.join(PROBLEMS)}")
    for name in opts:
        if name not in OPTIMIZERS:
            ap.error(f"unknown optimizer {name!r}; expected some of {', '.join(OPTIMIZERS)}")
    if args.batch > 1:
        opts.append("bayes_batch")
    # seed-major order: an interrupted run still holds whole seeds of every problem and optimizer
    tasks = [(o, p, s, args.budget, args.batch) for s in range(args.seeds) for p in probs for o in opts]
    t0 = time.time()
    results = []
    with ProcessPoolExecutor(args.jobs, initializer=_one_thread) as ex:
        for r in ex.map(run_one, tasks):
            results.append(r)
            if args.out:
                _save_raw(args.out, results)
            print(f"[{time.time() - t0:6.0f}s] {len(results)}/{len(tasks)} {r[0]} {r[1]} seed {r[2]}: "
                  f"best {min(r[3]):.5g}, ask {r[4]:.3f}s", file=sys.stderr, flush=True)
    text = report(results, opts, probs, args.batch)
    text = (f"{args.seeds} seeds, budget {args.budget}, batch {args.batch}, jobs {args.jobs}, "
            f"{time.time() - t0:.0f}s\n\n{text}")
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


def _save_raw(out: str, results: list[Any]) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(os.path.splitext(out)[0] + ".json", "w") as f:
        json.dump([list(r) for r in results], f)


if __name__ == "__main__":
    main()
