"""Benchmark of optimizers on conditional (hierarchical) search spaces: this project's ``bayes``, ``evolution``
and ``random`` beside Optuna (TPE, GP, random; define-by-run) and SMAC3's HPO facade.

Every method gets the same budget on the same problem; a trial's parameters are the ACTIVE ones only (ours: what
``ask`` returns; Optuna: suggested after the root, only for the branch taken; SMAC: ConfigSpace conditions).
Prints, per problem, each method's median final regret (best value found - known optimum) with its
interquartile range over seeds, the optimizer's mean seconds per trial (ask + tell, objective excluded) and
the rank of the median; last, whether ``bayes`` is at or below each peer per problem.

Problems (to minimize; all with optimum known exactly):

* ``jenatton``: Jenatton et al., "Bayesian optimization with tree-structured dependencies", ICML 2017, as
  Ax defines it (``jenatton_test_function`` and ``get_jenatton_search_space`` in
  facebook/Ax ``ax/benchmark/problems/synthetic/hss/jenatton.py``, ``JENATTON_OPTIMAL_VALUE = 0.1``).
* ``branches``: a 3-way root, branches of 2, 4 (one int) and 6 parameters with different best values,
  and one shared log-scale learning rate acting in every branch (``branches`` below).
* ``depth``: widths conditional on an int depth (``w3`` only when ``depth >= 3``), a learning rate whose best
  value moves with depth, and a heavy tail where the learning rate is too large for the depth (``depth_net``).

    python bench/conditional.py                       # 10 seeds, budget 50, every problem and method
    python bench/conditional.py --seeds 2 --budget 20 --problems jenatton --methods bayes,optuna_tpe
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one core: set before numpy, torch and sklearn load their thread pools

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.bo_benchmark import Run, _one_thread, _ranks, evaluate  # noqa: E402
from bench.problems import CONDITIONAL_PROBLEMS, Problem  # noqa: E402
from pipeline.search import SearchSpace, make_optimizer  # noqa: E402
from pipeline.search.space import CategoricalParam, FloatParam, IntParam, Param  # noqa: E402

METHODS = ("bayes", "evolution", "random", "optuna_tpe", "optuna_gp", "optuna_random", "smac")
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "conditional.txt")
PROBLEMS = CONDITIONAL_PROBLEMS


# -- methods --------------------------------------------------------------------------------------------------

def run_ours(strategy: str, problem: Problem, seed: int, budget: int) -> Run:
    """Values in evaluation order and mean optimizer seconds per trial (ask + tell)."""
    opt = make_optimizer(strategy, problem.space, seed=seed, direction="minimize")
    values: list[float] = []
    spent = 0.0
    for _ in range(budget):
        t0 = time.perf_counter()
        [p] = opt.ask(1)
        spent += time.perf_counter() - t0
        values.append(evaluate(problem, p))
        t0 = time.perf_counter()
        opt.tell(p, values[-1])
        spent += time.perf_counter() - t0
    return values, spent / budget


def _holds(space: SearchSpace, name: str, values: dict[str, Any]) -> bool:
    """Whether ``name``'s conditions hold for the parents chosen so far (parents precede children)."""
    return all(c.parent in values and c.holds(values[c.parent]) for c in space.conditions.get(name, ()))


def _suggest(trial: Any, p: Param) -> Any:
    if isinstance(p, FloatParam):
        return trial.suggest_float(p.name, p.low, p.high, log=p.log, step=p.step)
    if isinstance(p, IntParam):
        return trial.suggest_int(p.name, p.low, p.high, log=p.log, step=p.step)
    return trial.suggest_categorical(p.name, list(p.choices))


def define_by_run(trial: Any, space: SearchSpace) -> dict[str, Any]:
    """Suggest the root parameters, then only those whose conditions hold: Optuna's way to a conditional space."""
    values: dict[str, Any] = {}
    for p in space.params:
        if _holds(space, p.name, values):
            values[p.name] = _suggest(trial, p)
    return values


def _optuna_sampler(kind: str, seed: int) -> Any:
    import optuna

    if kind == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True)
    if kind == "gp":  # conditional parameters fall back to its independent (random) sampler: optuna#6164
        return optuna.samplers.GPSampler(seed=seed, warn_independent_sampling=False)
    return optuna.samplers.RandomSampler(seed=seed)


def run_optuna(kind: str, problem: Problem, seed: int, budget: int) -> Run:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore")  # ExperimentalWarning for multivariate and group
    study = optuna.create_study(sampler=_optuna_sampler(kind, seed), direction="minimize")
    values: list[float] = []
    spent = 0.0
    for _ in range(budget):
        t0 = time.perf_counter()
        trial = study.ask()
        params = define_by_run(trial, problem.space)
        spent += time.perf_counter() - t0
        values.append(evaluate(problem, params))
        t0 = time.perf_counter()
        study.tell(trial, values[-1])
        spent += time.perf_counter() - t0
    return values, spent / budget


def configspace(space: SearchSpace, seed: int) -> Any:
    """``space`` as a ConfigSpace: each condition an ``InCondition`` on the parent values that meet it
    (``EqualsCondition`` for one), several on one child joined by ``AndConjunction``."""
    from ConfigSpace import (
        AndConjunction,
        Categorical,
        ConfigurationSpace,
        EqualsCondition,
        Float,
        InCondition,
        Integer,
    )

    cs = ConfigurationSpace(seed=seed)
    hps = {}
    for p in space.params:
        if isinstance(p, CategoricalParam) or (isinstance(p, FloatParam) and p.step is not None):
            hps[p.name] = Categorical(p.name, list(p.values()))
        elif isinstance(p, IntParam) and p.step == 1:
            hps[p.name] = Integer(p.name, (p.low, p.high), log=p.log)
        elif isinstance(p, IntParam):
            hps[p.name] = Categorical(p.name, list(p.values()), ordered=True)
        else:
            hps[p.name] = Float(p.name, (p.low, p.high), log=p.log)
    cs.add(list(hps.values()))
    for child, conds in space.conditions.items():
        made = []
        for c in conds:
            meets = [v for v in space[c.parent].values() if c.holds(v)]
            made.append(EqualsCondition(hps[child], hps[c.parent], meets[0]) if len(meets) == 1
                        else InCondition(hps[child], hps[c.parent], meets))
        cs.add(made[0] if len(made) == 1 else AndConjunction(*made))
    return cs


def run_smac(problem: Problem, seed: int, budget: int) -> Run:
    """SMAC3's ``HyperparameterOptimizationFacade`` (random forest, log EI, local + random search, 20% random
    interleaving, Sobol initial design), ask/tell, deterministic (each configuration evaluated once)."""
    from smac import HyperparameterOptimizationFacade, Scenario
    from smac.runhistory.dataclasses import TrialValue

    warnings.filterwarnings("ignore")
    out = tempfile.mkdtemp(prefix="smac_conditional_")
    try:
        scenario = Scenario(configspace(problem.space, seed), deterministic=True, n_trials=budget, seed=seed,
                            output_directory=os.path.join(out, "run"))
        smac = HyperparameterOptimizationFacade(scenario, lambda config, seed=0: 0.0, overwrite=True,
                                                logging_level=logging.ERROR)
        values: list[float] = []
        spent = 0.0
        for _ in range(budget):
            t0 = time.perf_counter()
            info = smac.ask()
            spent += time.perf_counter() - t0
            params = {k: (v.item() if hasattr(v, "item") else v) for k, v in dict(info.config).items()}
            values.append(evaluate(problem, params))
            t0 = time.perf_counter()
            smac.tell(info, TrialValue(cost=values[-1]))
            spent += time.perf_counter() - t0
        return values, spent / budget
    finally:
        shutil.rmtree(out, ignore_errors=True)


def smac_unavailable() -> str | None:
    """Why SMAC cannot run here (None when it can)."""
    try:
        import ConfigSpace  # noqa: F401
        import smac  # noqa: F401
    except Exception as e:  # an ImportError, or a broken dependency under it
        return f"{type(e).__name__}: {e} (pip install -e '.[bench]' installs smac)"
    return None


def run_one(method: str, prob: str, seed: int, budget: int) -> Run:
    problem = PROBLEMS[prob]
    if method in ("bayes", "evolution", "random"):
        return run_ours(method, problem, seed, budget)
    if method.startswith("optuna_"):
        return run_optuna(method.split("_", 1)[1], problem, seed, budget)
    if method == "smac":
        return run_smac(problem, seed, budget)
    raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")


# -- report ---------------------------------------------------------------------------------------------------

Result = tuple[str, str, int, list[float], float]  # method, problem, seed, values, mean s per trial


def final_regrets(results: list[Result], prob: str) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Each method's final regret per seed (in seed order) on ``prob``, and its seconds per trial."""
    regrets: dict[str, list[float]] = {}
    times: dict[str, list[float]] = {}
    for m, p, _, values, t in sorted(results, key=lambda r: r[2]):
        if p == prob:
            regrets.setdefault(m, []).append(min(values) - PROBLEMS[prob].optimum)
            times.setdefault(m, []).append(t)
    return regrets, times


def problem_table(results: list[Result], prob: str, methods: list[str], na: dict[str, str]) -> tuple[list[str],
                                                                                                    dict[str, float]]:
    """Lines of one problem's table, and each method's median final regret."""
    regrets, times = final_regrets(results, prob)
    med = {m: float(np.median(regrets[m])) for m in methods if m in regrets}
    rank = _ranks(med)
    lines = [f"{prob} (optimum {PROBLEMS[prob].optimum:g}; {PROBLEMS[prob].space.dim} parameters, conditional)",
             f"  {'method':<15}{'median regret':>15}{'IQR (q25 - q75)':>24}{'s/trial':>10}{'rank':>7}{'seeds':>7}"]
    for m in methods:
        if m not in med:
            lines.append(f"  {m:<15}{'n/a':>15}{'':>24}{'':>10}{'':>7}{'':>7}  {na.get(m, 'not run')}")
            continue
        q25, q75 = np.percentile(regrets[m], [25, 75])
        lines.append(f"  {m:<15}{med[m]:>15.4g}{f'{q25:.4g} - {q75:.4g}':>24}{np.mean(times[m]):>10.4f}"
                     f"{rank[m]:>7.1f}{len(regrets[m]):>7}")
    return lines, med


def per_seed(results: list[Result], probs: list[str], methods: list[str]) -> list[str]:
    """Every run's final regret, sorted per method: a median can sit between two optima that runs settle on."""
    lines = ["final regret of every seed, sorted:"]
    for prob in probs:
        regrets, _ = final_regrets(results, prob)
        lines.append(f"  {prob}")
        lines += [f"    {m:<15}" + " ".join(f"{r:.3g}" for r in sorted(regrets[m])) for m in methods if m in regrets]
    return lines


def verdicts(medians: dict[str, dict[str, float]], probs: list[str], methods: list[str]) -> list[str]:
    """Per problem, whether ``bayes``'s median final regret is at or below each peer's; then the count."""
    lines = ["bayes at or below each peer on median final regret (bayes's median vs the peer's):"]
    wins = []
    for prob in probs:
        med = medians[prob]
        if "bayes" not in med:
            continue
        peers = [m for m in methods if m != "bayes"]
        verdict = [f"{m} {'yes' if med['bayes'] <= med[m] + 1e-12 else 'NO'} ({med['bayes']:.4g} vs {med[m]:.4g})"
                   if m in med else f"{m} n/a" for m in peers]
        lines.append(f"  {prob:<10} " + ", ".join(verdict))
        if all(med["bayes"] <= med[m] + 1e-12 for m in peers if m in med):
            wins.append(prob)
    lines.append(f"bayes at or below every peer run on {len(wins)}/{len(probs)} problems"
                 + (f": {', '.join(wins)}" if wins else ""))
    return lines


def report(results: list[Result], probs: list[str], methods: list[str], na: dict[str, str]) -> str:
    """Per problem: median final regret, IQR, seconds per trial and rank; every seed's regret; bayes vs peers."""
    lines: list[str] = []
    medians: dict[str, dict[str, float]] = {}
    for prob in probs:
        table, medians[prob] = problem_table(results, prob, methods, na)
        lines += [*table, ""]
    lines += [*per_seed(results, probs, methods), ""]
    if "bayes" in methods:
        lines += verdicts(medians, probs, methods)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=10, help="seeds 0..SEEDS-1")
    ap.add_argument("--budget", type=int, default=50, help="objective evaluations per run")
    ap.add_argument("--problems", default=",".join(PROBLEMS))
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--out", default=None, help=f"also write the table here (the full run: {RESULTS})")
    ap.add_argument("--raw", default=None, help="write every run's values here (JSON) as runs finish")
    ap.add_argument("--report", default=None, help="only print the tables from a JSON written by --raw")
    args = ap.parse_args(argv)
    if args.report:
        with open(args.report) as f:
            results = [tuple(r) for r in json.load(f)]
        probs = [p for p in PROBLEMS if any(r[1] == p for r in results)]
        methods = [m for m in METHODS if any(r[0] == m for r in results)]
        print(f"from {args.report}: {len(results)} runs\n\n{report(results, probs, methods, {})}")
        return
    probs, methods = args.problems.split(","), args.methods.split(",")
    for name in probs:
        if name not in PROBLEMS:
            ap.error(f"unknown problem {name!r}; expected some of {', '.join(PROBLEMS)}")
    for name in methods:
        if name not in METHODS:
            ap.error(f"unknown method {name!r}; expected some of {', '.join(METHODS)}")
    _one_thread()
    na: dict[str, str] = {}
    if "smac" in methods and (why := smac_unavailable()):
        na["smac"] = f"SMAC unavailable: {why}"
        print(na["smac"], file=sys.stderr)
    # seed-major order: an interrupted run still holds whole seeds of every problem and method
    tasks = [(m, p, s) for s in range(args.seeds) for p in probs for m in methods if m not in na]
    t0 = time.time()
    results: list[Result] = []
    for m, p, s in tasks:
        values, t = run_one(m, p, s, args.budget)
        results.append((m, p, s, values, t))
        if args.raw:
            with open(args.raw, "w") as f:
                json.dump([list(r) for r in results], f)
        print(f"[{time.time() - t0:6.0f}s] {len(results)}/{len(tasks)} {m} {p} seed {s}: "
              f"regret {min(values) - PROBLEMS[p].optimum:.4g}, {t:.3f}s/trial", file=sys.stderr, flush=True)
    text = (f"conditional spaces: {args.seeds} seeds, budget {args.budget}, 1 process, 1 thread, "
            f"{time.time() - t0:.0f}s\nregret = best value found - known optimum; s/trial = the optimizer's mean "
            f"seconds per trial (ask + tell, objective excluded); rank of the median (1 = best)\n\n"
            f"{report(results, probs, methods, na)}")
    if na:
        text += "\n\n" + "\n".join(f"{m}: {why}" for m, why in na.items())
    print(text)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
