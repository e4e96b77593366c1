"""Benchmark of optimizers with several objectives (and one constraint): this project's ``bayes`` (log EHVI x
probability of feasibility), ``evolution`` (NSGA-II's order in aging evolution) and ``random`` beside Optuna's
``GPSampler`` (LogEHVI; constrained), ``NSGAIISampler``, ``TPESampler`` with several directions (MOTPE) and
``RandomSampler``, all driven by ask/tell with the same budget and seed.

Hypervolume (HV) is taken on the true objective values of every evaluated feasible point (infeasible ones left
out) against a fixed reference point, at half the budget and at the end. Prints, per problem, each method's
median HV with its interquartile range over seeds at half and at the end, the gap of the median end HV to the
true front's HV, the share of feasible evaluations (constrained problems), the optimizer's mean seconds per
trial (ask + tell, objective excluded) and the rank of the median; then every seed's end HV; then ``bayes``
against each peer: median end and half HV, the two-sided Mann-Whitney U p-value over seeds and whether
``bayes`` is at or above the peer; last, the time of one ``bayes`` ask on ZDT1 at 50 and 200 observations beside
``GPSampler``'s at the same history.

Mann-Whitney U rather than a signed-rank test: a seed is not a shared random draw between methods (each samples
its own initial design from it), so the runs are two independent samples, not pairs.

Problems (to minimize; ``bench/problems.py`` ``MO_PROBLEMS``, each with its source): ZDT1 and ZDT2 (d = 6),
DTLZ2 (3 objectives, d = 6), BoTorch's BraninCurrin (d = 2) and C2-DTLZ2 (2 objectives, d = 4, one constraint,
BoTorch's definition with r = 0.2). Reference points: ZDT [11, 11], DTLZ2 [1.1]*3, BraninCurrin [18, 6],
C2-DTLZ2 [1.1, 1.1] (BoTorch's).

Peers: Optuna's defaults (``GPSampler`` with ``deterministic_objective=False``, ``TPESampler`` independent, as
it is by default with several objectives) except ``NSGAIISampler(population_size=NSGA2_POPULATION)``: its
default population of 50 leaves one generation in a budget of 60. Constraints reach Optuna through
``trial.set_constraint`` (v5; before it, ``constraints_func``).

    python bench/multiobjective.py                       # 10 seeds, budget 60, every problem and method
    python bench/multiobjective.py --seeds 2 --budget 20 --problems zdt1 --methods bayes,optuna_gp --ask-time ""
    python bench/multiobjective.py --problems zdt1,zdt2 --raw a.json --ask-time ""   # split over processes,
    python bench/multiobjective.py --problems dtlz2,c2dtlz2 --raw b.json             # ... then merge:
    python bench/multiobjective.py --report a.json,b.json --out bench/results/multiobjective.txt

``--out`` also writes every seed's HV at half and at the end, and the ask times, beside the report (``.json``);
``--raw`` keeps every evaluated point's values (about 0.5 MB per process for the full run).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one core: set before numpy, torch and sklearn load their thread pools

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
import warnings  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.bo_benchmark import _one_thread, _ranks  # noqa: E402
from bench.problems import MO_PROBLEMS, MOProblem  # noqa: E402
from pipeline.search import make_optimizer  # noqa: E402
from pipeline.search.pareto import hypervolume  # noqa: E402

METHODS = ("bayes", "evolution", "random", "optuna_gp", "optuna_nsga2", "optuna_tpe", "optuna_random")
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "multiobjective.txt")
PROBLEMS = MO_PROBLEMS
NSGA2_POPULATION = 20  # three generations in a budget of 60
ASK_TIME_PROBLEM = "zdt1"
ASK_TIME_REPEATS = 3
ALPHA = 0.05  # a difference below this p-value is called significant

# One run: losses (n, m) and constraint values (n, k) (None: unconstrained) in evaluation order, s per trial.
Run = tuple[list[list[float]], list[list[float]] | None, float]
# method, problem, seed, the Run's three parts, and the error a failed run raised (None when it ended)
Result = tuple[str, str, int, list[list[float]], list[list[float]] | None, float, str | None]


# -- methods --------------------------------------------------------------------------------------------------

def evaluate(problem: MOProblem, params: dict[str, Any]) -> tuple[list[float], list[float] | None]:
    """The losses and constraint values (None: unconstrained) of ``params``."""
    y = [float(v) for v in problem.objective(params)]
    return y, None if problem.constraints is None else [float(c) for c in problem.constraints(params)]


def run_ours(strategy: str, problem: MOProblem, seed: int, budget: int) -> Run:
    opt = make_optimizer(strategy, problem.space, seed=seed, direction=["minimize"] * problem.n_objectives)
    Y: list[list[float]] = []
    C: list[list[float]] = []
    spent = 0.0
    for _ in range(budget):
        t0 = time.perf_counter()
        [p] = opt.ask(1)
        spent += time.perf_counter() - t0
        y, c = evaluate(problem, p)
        Y.append(y)
        C.extend([c] if c is not None else [])
        t0 = time.perf_counter()
        opt.tell(p, y, constraints=c)
        spent += time.perf_counter() - t0
    return Y, C or None, spent / budget


def _optuna_sampler(kind: str, seed: int, constraints_func: Any) -> Any:
    import optuna

    extra = {} if constraints_func is None else {"constraints_func": constraints_func}
    if kind == "gp":
        return optuna.samplers.GPSampler(seed=seed, **extra)
    if kind == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=NSGA2_POPULATION, **extra)
    if kind == "tpe":
        return optuna.samplers.TPESampler(seed=seed, **extra)
    if kind == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise ValueError(f"unknown Optuna sampler {kind!r}")


def _constraints_func(problem: MOProblem) -> Any:
    """Optuna before v5 takes constraints through the sampler's ``constraints_func`` (read from a user
    attribute set before ``tell``); v5 deprecates it for ``trial.set_constraint``: None there."""
    import optuna

    if problem.constraints is None or hasattr(optuna.trial.Trial, "set_constraint"):
        return None
    return lambda frozen: frozen.user_attrs["constraints"]


def _constrain(trial: Any, c: list[float]) -> None:
    if hasattr(trial, "set_constraint"):
        for k, v in enumerate(c):
            trial.set_constraint(f"c{k}", v)
    else:
        trial.set_user_attr("constraints", c)


def _dists(problem: MOProblem) -> dict[str, Any]:
    from optuna.distributions import FloatDistribution

    return {p.name: FloatDistribution(p.low, p.high) for p in problem.space.params}


def run_optuna(kind: str, problem: MOProblem, seed: int, budget: int) -> Run:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore")  # ExperimentalWarning, FutureWarning of constraints_func
    sampler = _optuna_sampler(kind, seed, _constraints_func(problem))
    study = optuna.create_study(directions=["minimize"] * problem.n_objectives, sampler=sampler)
    dists = _dists(problem)
    Y: list[list[float]] = []
    C: list[list[float]] = []
    spent = 0.0
    for _ in range(budget):
        t0 = time.perf_counter()
        trial = study.ask(dists)
        spent += time.perf_counter() - t0
        y, c = evaluate(problem, trial.params)
        Y.append(y)
        if c is not None:
            C.append(c)
            _constrain(trial, c)
        t0 = time.perf_counter()
        study.tell(trial, y)
        spent += time.perf_counter() - t0
    return Y, C or None, spent / budget


def run_one(method: str, prob: str, seed: int, budget: int) -> Run:
    problem = PROBLEMS[prob]
    if method in ("bayes", "evolution", "random"):
        return run_ours(method, problem, seed, budget)
    if method.startswith("optuna_"):
        return run_optuna(method.split("_", 1)[1], problem, seed, budget)
    raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")


def run_or_fail(method: str, prob: str, seed: int, budget: int) -> Result:
    """``run_one``'s result, or the error it raised: an optimizer's failure is a result to report, and the other
    runs go on (its traceback goes to stderr)."""
    try:
        return (method, prob, seed, *run_one(method, prob, seed, budget), None)
    except Exception as e:  # noqa: BLE001 - whatever the optimizer raises is reported, not hidden
        traceback.print_exc(file=sys.stderr)
        return method, prob, seed, [], None, float("nan"), f"{type(e).__name__}: {e}"


# -- ask time -------------------------------------------------------------------------------------------------

def _history(problem: MOProblem, n: int, seed: int) -> list[tuple[dict[str, float], list[float]]]:
    """``n`` uniform random points of ``problem`` and their losses: the same history for every optimizer."""
    rng = np.random.default_rng(seed)
    points = [{p.name: float(rng.uniform(p.low, p.high)) for p in problem.space.params} for _ in range(n)]
    return [(p, evaluate(problem, p)[0]) for p in points]


def _timed_asks(ask: Any) -> tuple[float, list[float]]:
    """The first ask's seconds (its GP fitted cold), then ``ASK_TIME_REPEATS`` more (warm-started as in a run)."""
    times = []
    for _ in range(1 + ASK_TIME_REPEATS):
        t0 = time.perf_counter()
        ask()
        times.append(time.perf_counter() - t0)
    return times[0], times[1:]


def ask_time_ours(problem: MOProblem, n: int) -> tuple[float, list[float]]:
    opt = make_optimizer("bayes", problem.space, seed=0, direction=["minimize"] * problem.n_objectives)
    for p, y in _history(problem, n, seed=n):
        opt.tell(p, y)

    def ask() -> None:
        [p] = opt.ask(1)
        opt.tell(p, None)  # failed: out of the model, so every timed ask sees the same n observations

    return _timed_asks(ask)


def ask_time_gp(problem: MOProblem, n: int) -> tuple[float, list[float]]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore")
    study = optuna.create_study(directions=["minimize"] * problem.n_objectives,
                                sampler=optuna.samplers.GPSampler(seed=0))
    dists = _dists(problem)
    study.add_trials([optuna.trial.create_trial(params=p, distributions=dists, values=y)
                      for p, y in _history(problem, n, seed=n)])

    def ask() -> None:
        trial = study.ask(dists)
        study.tell(trial, state=optuna.trial.TrialState.FAIL)  # as ours: not running, not in the model

    return _timed_asks(ask)


AskTime = tuple[str, int, float, list[float]]  # method, observations, first ask's s, the next asks' s


def ask_times(observations: list[int]) -> list[AskTime]:
    out = []
    for n in observations:
        for method, fn in (("bayes", ask_time_ours), ("optuna_gp", ask_time_gp)):
            first, rest = fn(PROBLEMS[ASK_TIME_PROBLEM], n)
            out.append((method, n, first, rest))
            print(f"ask time {method} at {n}: first {first:.3f}s, then {np.median(rest):.3f}s", file=sys.stderr,
                  flush=True)
    return out


# -- report ---------------------------------------------------------------------------------------------------

def hv_at(problem: MOProblem, Y: list[list[float]], C: list[list[float]] | None, n: int) -> float:
    """Hypervolume of the feasible points among the first ``n`` evaluated, against ``problem.ref``."""
    Yn = np.asarray(Y[:n], dtype=float).reshape(-1, problem.n_objectives)
    if C is not None:
        Yn = Yn[np.all(np.asarray(C[:n], dtype=float) <= 0, axis=1)]
    return hypervolume(Yn, np.asarray(problem.ref)) if len(Yn) else 0.0


def hv_table(results: list[Result], prob: str) -> dict[str, dict[str, list[Any]]]:
    """Per method, in seed order: end HV, half-budget HV, feasible share and seconds per trial of the runs that
    ended, and the errors of those that failed."""
    problem = PROBLEMS[prob]
    out: dict[str, dict[str, list[Any]]] = {}
    for m, p, _, Y, C, t, err in sorted(results, key=lambda r: r[2]):
        if p != prob:
            continue
        row = out.setdefault(m, {"end": [], "half": [], "feasible": [], "time": [], "errors": []})
        if err is not None:
            row["errors"].append(err)
            continue
        row["end"].append(hv_at(problem, Y, C, len(Y)))
        row["half"].append(hv_at(problem, Y, C, len(Y) // 2))
        row["feasible"].append(1.0 if C is None else float(np.mean(np.all(np.asarray(C) <= 0, axis=1))))
        row["time"].append(t)
    return out


def _med_iqr(v: list[float]) -> str:
    q25, q50, q75 = np.percentile(v, [25, 50, 75])
    return f"{q50:.4g} ({q25:.4g} - {q75:.4g})"


def problem_table(results: list[Result], prob: str, methods: list[str]) -> tuple[list[str], dict[str, Any]]:
    """Lines of one problem's table, and its per-method HVs (``hv_table``)."""
    problem = PROBLEMS[prob]
    hv = hv_table(results, prob)
    rank = _ranks({m: -float(np.median(hv[m]["end"])) for m in methods if m in hv and hv[m]["end"]})
    cons = problem.constraints is not None
    lines = [f"{prob} ({problem.n_objectives} objectives, {problem.space.dim} parameters"
             f"{', 1 constraint' if cons else ''}; ref {list(problem.ref)}; true front's HV {problem.max_hv:.6g}; "
             f"{problem.source})",
             f"  {'method':<15}{'HV half: median (IQR)':>32}{'HV end: median (IQR)':>32}{'gap end':>10}"
             + (f"{'feasible':>10}" if cons else "") + f"{'s/trial':>9}{'rank':>6}{'seeds':>6}"]
    for m in methods:
        if m not in hv:
            lines.append(f"  {m:<15}{'not run':>32}")
            continue
        r = hv[m]
        n_runs = len(r["end"]) + len(r["errors"])
        if r["end"]:
            lines.append(f"  {m:<15}{_med_iqr(r['half']):>32}{_med_iqr(r['end']):>32}"
                         f"{problem.max_hv - np.median(r['end']):>10.4g}"
                         + (f"{np.mean(r['feasible']):>10.0%}" if cons else "")
                         + f"{np.mean(r['time']):>9.4f}{rank[m]:>6.1f}{len(r['end']):>6}")
        if r["errors"]:
            lines.append(f"  {m:<15}FAILED in {len(r['errors'])} of {n_runs} seeds (left out above): "
                         f"{r['errors'][0]}")
    return lines, hv


def per_seed(hvs: dict[str, dict[str, Any]], methods: list[str]) -> list[str]:
    """Every run's end HV, sorted per method."""
    lines = ["end HV of every seed, sorted:"]
    for prob, hv in hvs.items():
        lines.append(f"  {prob}")
        lines += [f"    {m:<15}" + " ".join(f"{v:.5g}" for v in sorted(hv[m]["end"]))
                  for m in methods if m in hv and hv[m]["end"]]
    return lines


def _compare(a: list[float], b: list[float]) -> tuple[str, float]:
    """'yes' when the median of ``a`` is at or above ``b``'s, else 'NO' (significant) or 'no' (not); the
    two-sided Mann-Whitney U p-value."""
    from scipy.stats import mannwhitneyu

    p = float(mannwhitneyu(a, b, alternative="two-sided").pvalue) if a != b else 1.0
    if np.median(a) >= np.median(b) - 1e-12:
        return "yes", p
    return ("NO" if p < ALPHA else "no"), p


def verdicts(hvs: dict[str, dict[str, Any]], methods: list[str]) -> list[str]:
    """Per problem and peer: bayes's and the peer's median HV at the end and at half, the p-values, the verdicts."""
    lines = [f"bayes >= peer on median HV (yes; NO: below with Mann-Whitney p < {ALPHA}; no: below, not significant)",
             f"  {'problem':<14}{'peer':<15}{'end: bayes vs peer':>26}{'p':>8}{'':>5}"
             f"{'half: bayes vs peer':>26}{'p':>8}{'':>5}"]
    wins: dict[str, int] = {}
    for prob, hv in hvs.items():
        if "bayes" not in hv or not hv["bayes"]["end"]:
            continue
        for m in methods:
            if m == "bayes" or m not in hv or not hv[m]["end"]:
                continue
            row = f"  {prob:<14}{m:<15}"
            for when in ("end", "half"):
                ours, theirs = hv["bayes"][when], hv[m][when]
                verdict, p = _compare(ours, theirs)
                both = f"{np.median(ours):.5g} vs {np.median(theirs):.5g}"
                row += f"{both:>26}{p:>8.3f}{verdict:>5}"
                if when == "end":
                    wins[m] = wins.get(m, 0) + (verdict == "yes")
            if len(hv[m]["end"]) != len(hv["bayes"]["end"]):
                row += f"  ({m}: {len(hv[m]['end'])} seeds)"
            lines.append(row)
    n = sum("bayes" in hv and bool(hv["bayes"]["end"]) for hv in hvs.values())
    lines.append(f"bayes's median end HV at or above the peer's, problems of {n}: "
                 + ", ".join(f"{m} {w}/{n}" for m, w in wins.items()))
    return lines


def ask_time_lines(rows: list[AskTime]) -> list[str]:
    if not rows:
        return []
    lines = [f"ask time, {ASK_TIME_PROBLEM} ({PROBLEMS[ASK_TIME_PROBLEM].n_objectives} objectives, "
             f"{PROBLEMS[ASK_TIME_PROBLEM].space.dim} parameters), the same random history told to each; one ask "
             f"fitted cold, then the median of {ASK_TIME_REPEATS} (each warm-started from the last fit, as in a run; "
             "the asked point told failed, so the model keeps the same observations)",
             f"  {'method':<15}{'observations':>14}{'first ask (s)':>15}{'median next (s)':>17}"]
    for m, n, first, rest in rows:
        lines.append(f"  {m:<15}{n:>14}{first:>15.3f}{np.median(rest):>17.3f}")
    return lines


def report(results: list[Result], probs: list[str], methods: list[str], asks: list[AskTime]) -> str:
    lines: list[str] = []
    hvs: dict[str, dict[str, Any]] = {}
    for prob in probs:
        table, hvs[prob] = problem_table(results, prob, methods)
        lines += [*table, ""]
    lines += [*per_seed(hvs, methods), ""]
    if "bayes" in methods:
        lines += [*verdicts(hvs, methods), ""]
    lines += ask_time_lines(asks)
    return "\n".join(lines).rstrip()


def header(budgets: list[int], seeds: int, processes: list[dict[str, Any]]) -> str:
    """The run's facts: each process's wall time and the machine's mean 1-minute load average while it ran (a
    load above the cores' count slows every method's s/trial and the ask times alike)."""
    facts = ", ".join(f"{p['seconds']:.0f}s" + (f" at load {p['load']:.1f}" if p.get("load") is not None else "")
                      for p in processes)
    return (f"several objectives: {seeds} seeds, budget {'/'.join(map(str, sorted(set(budgets))))}, "
            f"{len(processes)} process(es) of 1 thread on {os.cpu_count()} cores: {facts}\n"
            "HV = hypervolume of the feasible evaluated points (true values) against the fixed reference point; "
            "gap end = true front's HV - median end HV; s/trial = the optimizer's mean seconds per trial (ask + "
            "tell, objective excluded); rank of the median end HV (1 = best)\n")


def load(paths: list[str]) -> tuple[list[Result], list[AskTime], int, list[dict[str, Any]]]:
    """Runs, ask times, seeds and each process's facts (``header``) of one or more raw JSON files (the processes
    of a split run)."""
    results: list[Result] = []
    asks: list[AskTime] = []
    seeds, processes = 0, []
    for path in paths:
        with open(path) as f:
            raw = json.load(f)
        results += [tuple(r) for r in raw["runs"]]
        asks += [tuple(a) for a in raw["ask_time"]]
        seeds = max(seeds, raw["seeds"])
        processes.append({"seconds": raw["seconds"], "load": raw.get("load")})
    return results, asks, seeds, processes


def save_raw(path: str, results: list[Result], asks: list[AskTime], seeds: int, seconds: float,
             loads: list[float]) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump({"seeds": seeds, "seconds": seconds, "load": float(np.mean(loads)) if loads else None,
                   "runs": [list(r) for r in results], "ask_time": [list(a) for a in asks]}, f)


def per_seed_json(results: list[Result], asks: list[AskTime]) -> dict[str, Any]:
    """Every run's HV at half budget and at the end, by problem and method (seed order), failures with their
    error, and the ask times: the compact record beside the report."""
    out: dict[str, Any] = {"hypervolume": {}, "ask_time": [list(a) for a in asks]}
    for prob in PROBLEMS:
        if any(r[1] == prob for r in results):
            hv = hv_table(results, prob)
            out["hypervolume"][prob] = {
                "ref": list(PROBLEMS[prob].ref), "max_hv": PROBLEMS[prob].max_hv,
                "methods": {m: {k: hv[m][k] for k in ("half", "end", "errors")} for m in hv}}
    return out


def write(text: str, out: str | None, results: list[Result], asks: list[AskTime]) -> None:
    """Print the report; with ``out``, write it there and the per-seed HVs (``per_seed_json``) beside it."""
    print(text)
    if out:
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        with open(out, "w") as f:
            f.write(text + "\n")
        with open(os.path.splitext(out)[0] + ".json", "w") as f:
            json.dump(per_seed_json(results, asks), f, indent=1)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=10, help="seeds 0..SEEDS-1")
    ap.add_argument("--budget", type=int, default=60, help="objective evaluations per run")
    ap.add_argument("--problems", default=",".join(PROBLEMS))
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--ask-time", default="50,200", help="observations at which to time one ask ('' to skip)")
    ap.add_argument("--out", default=None, help=f"also write the report here (the full run: {RESULTS}), and "
                                                 "every seed's HV beside it (.json)")
    ap.add_argument("--raw", default=None, help="write every run's values here (JSON) as runs finish")
    ap.add_argument("--report", default=None, help="only report the raw JSON file(s) written by --raw, "
                                                    "comma-separated (a run split over processes)")
    args = ap.parse_args(argv)
    if args.report:
        results, asks, seeds, processes = load(args.report.split(","))
        probs = [p for p in PROBLEMS if any(r[1] == p for r in results)]
        methods = [m for m in METHODS if any(r[0] == m for r in results)]
        budgets = [len(r[3]) for r in results if r[6] is None]
        write(header(budgets, seeds, processes) + "\n" + report(results, probs, methods, asks), args.out, results,
              asks)
        return
    probs, methods = args.problems.split(","), args.methods.split(",")
    for name in probs:
        if name not in PROBLEMS:
            ap.error(f"unknown problem {name!r}; expected some of {', '.join(PROBLEMS)}")
    for name in methods:
        if name not in METHODS:
            ap.error(f"unknown method {name!r}; expected some of {', '.join(METHODS)}")
    observations = [int(n) for n in args.ask_time.split(",") if n.strip()]
    _one_thread()
    # seed-major order: an interrupted run still holds whole seeds of every problem and method
    tasks = [(m, p, s) for s in range(args.seeds) for p in probs for m in methods]
    t0 = time.time()
    results: list[Result] = []
    loads: list[float] = []  # the 1-minute load average after each run: how shared the cores were
    for m, p, s in tasks:
        results.append(run_or_fail(m, p, s, args.budget))
        loads.append(os.getloadavg()[0])
        if args.raw:
            save_raw(args.raw, results, [], args.seeds, time.time() - t0, loads)
        Y, C, t, err = results[-1][3:]
        done = f"FAILED: {err}" if err else f"HV {hv_at(PROBLEMS[p], Y, C, len(Y)):.5g}, {t:.3f}s/trial"
        print(f"[{time.time() - t0:6.0f}s] {len(results)}/{len(tasks)} {m} {p} seed {s}: {done}", file=sys.stderr,
              flush=True)
    asks = ask_times(observations)
    loads.append(os.getloadavg()[0])
    seconds = time.time() - t0
    if args.raw:
        save_raw(args.raw, results, asks, args.seeds, seconds, loads)
    write(header([args.budget], args.seeds, [{"seconds": seconds, "load": float(np.mean(loads))}]) + "\n"
          + report(results, probs, methods, asks), args.out, results, asks)


if __name__ == "__main__":
    main()
