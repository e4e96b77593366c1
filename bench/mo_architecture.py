"""Accuracy against size on real data: ``bayes``, ``evolution`` and ``random`` beside Optuna's NSGA-II, MOTPE
(``TPESampler`` with two directions) and ``GPSampler`` (LogEHVI), two objectives over the space of
``+sweep=architecture`` (``model=net`` on digits), 60 trials each, every method driven through the same trial code.
``bayes`` runs as the sweeper runs it (``n_params`` modelled on its log scale: ``objective.Cost.log_scale``),
``bayes_raw`` standardises the raw count (its default from c3814a5 to 2e16ac6), ``bayes_power`` is ``bayes`` with
``warping="power"``: its default with several objectives until c3814a5 (same proposals as the code of before,
checked by replaying a run).

A trial is this project's own k-fold training (``pipeline.training.cv.cross_validate``) of the composed config in
this process, exactly as ``bench/architecture.py`` runs it (its ``TRAINING`` overrides, data split and space are
imported from there): objectives ``val_accuracy`` (``CVResult.mean``, maximized) and ``n_params``
(``CVResult.n_params``, minimized). A configuration whose training raises is a failed trial (told as failed to
every optimizer, left out of every front). Optuna suggests define-by-run, only the parameters the depth reaches
(``bench.conditional.define_by_run``); NSGA-II and GPSampler vary only the parameters every trial has (depth, the
first block, the learning rate) and draw the deeper blocks' at random (Optuna's intersection search space;
optuna#6164), MOTPE is ``multivariate=True, group=True`` as in ``bench/architecture.py``.

Hypervolume (HV) is taken on ``(1 - accuracy, log10(n_params))`` (both minimized; log because the space's sizes
span four decades) of every completed trial, against the FIXED reference point ``(0.5, log10(MAX) + 0.1)`` where
``MAX`` is the parameter count of the space's largest configuration (4 blocks of width 128, kernel 5, with norm
and skip: 1,235,082 on digits); the best possible HV is below ``0.5 * (log10(MAX) + 0.1 - log10(MIN))`` = 1.98
(``MIN``: one block of width 8, kernel 3, no norm, 170). Reported per method, median (and IQR) over seeds: HV at
30 trials and at 60, the best accuracy with ``n_params <= 5,000`` and ``<= 20,000`` (0 when no such trial), the
best accuracy at any size, the size of the final front, the wall time of a run (training included; the machine
is shared, so read it loosely), the optimizer's seconds per trial (ask + tell, training excluded) and the failed
trials; then every seed's HV at 60, and ``bayes`` and ``evolution`` against each peer (median HV, two-sided
Mann-Whitney U p-value over seeds; seeds are independent samples, each method draws its own start from them).

Run time: one trial trains 2 folds x up to 8 epochs on one thread, about 4 s of CPU on average (1-30 s of wall
time on a loaded machine, with the network's size); a run of 60 trials took 3 min on a quiet core and up to 14 min
with the machine's 2 cores shared with other benchmarks, a seed of the six methods of the first plan about 50
process-minutes there. So the results in ``bench/results/mo_architecture.txt`` are 5 seeds (0-4): 35 runs taken
from one queue by 2 processes (``--claim``), 248 process-minutes, 2 h 27 min elapsed; 10 seeds did not fit.

    python bench/mo_architecture.py --seeds 0 1 2 --raw /tmp/a.json --claim /tmp/q  # process 1 (resumes)
    python bench/mo_architecture.py --seeds 0 1 2 --raw /tmp/b.json --claim /tmp/q  # process 2, same queue
    python bench/mo_architecture.py --report /tmp/a.json /tmp/b.json --out bench/results/mo_architecture.txt \
        --merged bench/results/mo_architecture.json
    python bench/mo_architecture.py --seeds 0 --trials 6 --methods random optuna_gp --raw /tmp/t.json  # smoke
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
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bench.architecture as arch  # noqa: E402
from bench.conditional import define_by_run  # noqa: E402
from pipeline.search import make_optimizer  # noqa: E402
from pipeline.search.pareto import hypervolume, non_dominated  # noqa: E402

METHODS = ("bayes", "bayes_raw", "bayes_power", "evolution", "random", "optuna_nsga2", "optuna_tpe", "optuna_gp")
# ours: method -> (strategy, options); bayes as the sweeper runs it (n_params modelled on its log, as
# objective.Cost.log_scale says); bayes_raw standardises the raw count (its default before that, c3814a5..2e16ac6);
# bayes_power is bayes with the power-warped objectives it had by default before c3814a5
EVOLUTION = {"population": 12, "sample_size": 3}  # as bench/architecture.py: 4 generations' worth in 60 trials
OURS = {"bayes": ("bayes", {"log_objectives": [False, True]}), "bayes_raw": ("bayes", {}),
        "bayes_power": ("bayes", {"warping": "power"}), "evolution": ("evolution", EVOLUTION),
        "random": ("random", {})}
DIRECTIONS = ["maximize", "minimize"]  # val_accuracy, n_params
NSGA2_POPULATION = 20  # three generations in 60 trials (Optuna's default 50 leaves one); as bench/multiobjective.py
BUDGETS = (5_000, 20_000)  # "best accuracy with at most this many parameters"
REF_ACCURACY = 0.5  # HV counts trials above 50 % accuracy (digits has 10 classes: chance is 10 %)
REF_MARGIN = 0.1  # in log10(n_params), past the largest network of the space
ALPHA = 0.05

# One trial: its parameters, accuracy and n_params (None when it failed), optimizer and training seconds.
Record = dict[str, Any]


# -- one trial ------------------------------------------------------------------------------------------------

def measure(params: dict[str, Any], data: Any) -> tuple[float, int] | None:
    """``(cv accuracy, n_params)`` of one configuration; None when its training fails."""
    import torch

    from pipeline.training.cv import cross_validate

    try:
        cv = cross_validate(arch.config(params), data, torch.device("cpu"))
    except Exception:  # noqa: BLE001 - a diverged or invalid configuration counts as a failed trial
        traceback.print_exc(file=sys.stderr)
        return None
    return float(cv.mean), int(cv.n_params)


def n_params_of(params: dict[str, Any], data: Any) -> int:
    """The parameter count of ``params``' network, built without training."""
    from pipeline.training.builders import build_model

    return sum(p.numel() for p in build_model(arch.config(params), tuple(data.input_shape), data.num_outputs)
               .parameters() if p.requires_grad)


def extreme_sizes(data: Any) -> tuple[int, int]:
    """The space's smallest and largest parameter counts (widths 8 / 128, kernels 3 / 5, every norm and skip)."""
    def uniform(depth: int, width: int, kernel: int, norm: str, skip: bool) -> dict[str, Any]:
        p: dict[str, Any] = {"model.depth": depth, "optimizer.lr": 1e-3}
        for i in range(1, depth + 1):
            p.update({f"model.layer{i}.{k}": v for k, v in
                      (("width", width), ("kernel", kernel), ("activation", "relu"), ("norm", norm), ("skip", skip))})
        return p

    shapes = [(n, s) for n in ("none", "batch", "layer") for s in (False, True)]
    return (min(n_params_of(uniform(1, 8, 3, n, s), data) for n, s in shapes),
            max(n_params_of(uniform(4, 128, 5, n, s), data) for n, s in shapes))


# -- methods --------------------------------------------------------------------------------------------------

def run_ours(method: str, space: Any, data: Any, seed: int, trials: int) -> list[Record]:
    strategy, options = OURS[method]
    opt = make_optimizer(strategy, space, seed=seed, direction=DIRECTIONS, **options)
    out = []
    for _ in range(trials):
        t0 = time.perf_counter()
        [p] = opt.ask(1)
        t1 = time.perf_counter()
        y = measure(p, data)
        t2 = time.perf_counter()
        opt.tell(p, y)  # None: failed
        out.append(_record(p, y, time.perf_counter() - t2 + t1 - t0, t2 - t1))
    return out


def _sampler(kind: str, seed: int) -> Any:
    import optuna

    if kind == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=NSGA2_POPULATION)
    if kind == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, n_startup_trials=10)
    if kind == "gp":
        return optuna.samplers.GPSampler(seed=seed, warn_independent_sampling=False)
    raise ValueError(f"unknown Optuna sampler {kind!r}")


def run_optuna(kind: str, space: Any, data: Any, seed: int, trials: int) -> list[Record]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore")  # ExperimentalWarning (multivariate, group)
    study = optuna.create_study(directions=DIRECTIONS, sampler=_sampler(kind, seed))
    out = []
    for _ in range(trials):
        t0 = time.perf_counter()
        trial = study.ask()
        p = define_by_run(trial, space)  # the samplers propose while suggesting
        t1 = time.perf_counter()
        y = measure(p, data)
        t2 = time.perf_counter()
        if y is None:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            study.tell(trial, list(y))
        out.append(_record(p, y, time.perf_counter() - t2 + t1 - t0, t2 - t1))
    return out


def _record(p: dict[str, Any], y: tuple[float, int] | None, opt_s: float, train_s: float) -> Record:
    return {"params": {k: (v.item() if hasattr(v, "item") else v) for k, v in p.items()},
            "accuracy": None if y is None else y[0], "n_params": None if y is None else y[1],
            "opt_s": opt_s, "train_s": train_s}


def run_one(method: str, space: Any, data: Any, seed: int, trials: int) -> list[Record]:
    if method in OURS:
        return run_ours(method, space, data, seed, trials)
    if method.startswith("optuna_"):
        return run_optuna(method.split("_", 1)[1], space, data, seed, trials)
    raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")


# -- metrics --------------------------------------------------------------------------------------------------

def losses(records: list[Record], n: int) -> np.ndarray:
    """``(k, 2)``: ``(1 - accuracy, log10(n_params))`` of the completed trials among the first ``n``."""
    done = [r for r in records[:n] if r["accuracy"] is not None]
    return np.array([[1.0 - r["accuracy"], np.log10(r["n_params"])] for r in done], dtype=float).reshape(-1, 2)


def hv(records: list[Record], n: int, ref: np.ndarray) -> float:
    Y = losses(records, n)
    return hypervolume(Y, ref) if len(Y) else 0.0


def best_under(records: list[Record], budget: float) -> float:
    """The best accuracy of a completed trial with ``n_params <= budget`` (0.0: none)."""
    return max((r["accuracy"] for r in records if r["accuracy"] is not None and r["n_params"] <= budget),
               default=0.0)


def summary(records: list[Record], ref: np.ndarray, half: int) -> dict[str, float]:
    """One run's numbers."""
    Y = losses(records, len(records))
    return {"hv_half": hv(records, half, ref), "hv_end": hv(records, len(records), ref),
            **{f"best_{b}": best_under(records, b) for b in BUDGETS}, "best": best_under(records, np.inf),
            "front": int(non_dominated(Y).sum()) if len(Y) else 0,
            "wall": sum(r["opt_s"] + r["train_s"] for r in records),
            "opt_s": float(np.mean([r["opt_s"] for r in records])),
            "failed": sum(r["accuracy"] is None for r in records)}


# -- report ---------------------------------------------------------------------------------------------------

def _med_iqr(v: list[float], fmt: str = ".4f") -> str:
    q25, q50, q75 = np.percentile(v, [25, 50, 75])
    return f"{q50:{fmt}} ({q25:{fmt}}-{q75:{fmt}})"


def table(stats: dict[str, list[dict[str, float]]], methods: list[str], half: int, trials: int) -> list[str]:
    cols = [f"HV@{half}", f"HV@{trials}", f"acc<={BUDGETS[0] // 1000}k", f"acc<={BUDGETS[1] // 1000}k"]
    lines = [f"{'method':<13}" + "".join(f"{c + ': median (IQR)':>27}" for c in cols)
             + f"{'best acc':>9}{'front':>6}{'wall s':>8}{'opt s/tr':>9}{'failed':>7}{'seeds':>6}"]
    for m in methods:
        s = stats.get(m)
        if not s:
            lines.append(f"{m:<13}not run")
            continue
        def col(k: str, s: list[dict[str, float]] = s) -> list[float]:
            return [r[k] for r in s]

        lines.append(f"{m:<13}" + "".join(f"{_med_iqr(col(k)):>27}" for k in
                                          ("hv_half", "hv_end", f"best_{BUDGETS[0]}", f"best_{BUDGETS[1]}"))
                     + f"{np.median(col('best')):>9.4f}{np.median(col('front')):>6.0f}"
                     f"{np.median(col('wall')):>8.0f}{np.median(col('opt_s')):>9.3f}{sum(col('failed')):>7}"
                     f"{len(s):>6}")
    return lines


def comparisons(stats: dict[str, list[dict[str, float]]], methods: list[str]) -> list[str]:
    """``bayes`` and ``evolution`` against every other method: medians, difference, Mann-Whitney p."""
    from scipy.stats import mannwhitneyu

    lines = [f"ours vs peer, median HV (end and half); p: two-sided Mann-Whitney U over seeds; '<' marks ours "
             f"below the peer, '<*' with p < {ALPHA}",
             f"{'ours':<11}{'peer':<14}{'HV end ours-peer':>30}{'p':>7}{'':>3}{'HV half ours-peer':>30}{'p':>7}"]
    for ours in ("bayes", "evolution"):
        for peer in methods:
            if peer == ours or ours not in stats or peer not in stats:
                continue
            row = f"{ours:<11}{peer:<14}"
            for key in ("hv_end", "hv_half"):
                a, b = [r[key] for r in stats[ours]], [r[key] for r in stats[peer]]
                p = float(mannwhitneyu(a, b, alternative="two-sided").pvalue) if a != b else 1.0
                d = np.median(a) - np.median(b)
                mark = "" if d >= 0 else ("<*" if p < ALPHA else "<")
                row += f"{f'{np.median(a):.4f}-{np.median(b):.4f}={d:+.4f}':>30}{p:>7.3f}{mark:>3}"
            lines.append(row)
    return lines


def report(raw: dict[str, Any], methods: list[str], note: str = "") -> str:
    """The tables of ``raw`` (``load_raw``) for ``methods``; ``note``: where it ran, added to the header."""
    trials, half = raw["trials"], raw["trials"] // 2
    ref = np.array(raw["ref"])
    ran = {(r["method"], r["seed"]) for r in raw["runs"]}
    seeds = sorted(s for s in {r["seed"] for r in raw["runs"]} if all((m, s) in ran for m in methods))
    partial = sorted({r["seed"] for r in raw["runs"]} - set(seeds))
    stats: dict[str, list[dict[str, float]]] = {}
    for run in sorted(raw["runs"], key=lambda r: r["seed"]):  # only seeds every method finished
        if run["seed"] in seeds and run["method"] in methods:
            stats.setdefault(run["method"], []).append(summary(run["records"], ref, half))
    lines = [f"Architecture search, two objectives (max val_accuracy, min n_params) on digits: {trials} trials, "
             f"seeds {', '.join(map(str, seeds))}"
             + (f" (seeds {', '.join(map(str, partial))} left out: not every method finished them)" if partial else "")
             + f"; training {' '.join(arch.TRAINING)}",
             f"{raw['processes']} process(es) of 1 thread; {raw['seconds'] / 60:.0f} min of run time in all "
             f"({raw['seconds'] / 60 / raw['processes']:.0f} min per process){note}",
             f"HV on (1 - accuracy, log10(n_params)) of every completed trial, FIXED reference "
             f"({REF_ACCURACY}, log10({raw['max_params']}) + {REF_MARGIN} = {ref[1]:.4f}); sizes in the space "
             f"{raw['min_params']}..{raw['max_params']}, "
             f"so HV < {REF_ACCURACY * (ref[1] - np.log10(raw['min_params'])):.3f}",
             "acc<=Nk: best cv accuracy with n_params <= N thousand (0 when none); best acc: at any size; front: "
             "points on the final front; wall s: one run, training included; opt s/tr: ask + tell per trial",
             "", *table(stats, methods, half, trials), "", f"HV@{trials} of every seed, in seed order:"]
    lines += [f"  {m:<13}" + " ".join(f"{r['hv_end']:.4f}" for r in stats[m]) for m in methods if m in stats]
    lines += ["", *comparisons(stats, methods)]
    return "\n".join(lines)


# -- driver ---------------------------------------------------------------------------------------------------

def load_raw(paths: list[str]) -> dict[str, Any]:
    """The runs of one or more raw files (the processes of a split run), with their run facts."""
    merged: dict[str, Any] = {"runs": [], "seconds": 0.0, "processes": 0}
    for path in paths:
        raw = json.loads(Path(path).read_text())
        merged["runs"] += raw["runs"]
        merged["seconds"] += raw["seconds"]
        merged["processes"] += raw.get("processes", 1)
        for k in ("trials", "ref", "min_params", "max_params"):
            if merged.setdefault(k, raw[k]) != raw[k]:
                raise ValueError(f"{path}: {k}={raw[k]!r} differs from the other files' {merged[k]!r}")
    return merged


def run(args: argparse.Namespace) -> None:
    """Every (seed, method) not yet in ``args.raw``, saving the file after each (a stopped run resumes)."""
    import torch

    torch.set_num_threads(1)
    data, space = arch.load("digits"), arch.preset_space(vectors=False)
    low, high = extreme_sizes(data)
    path = Path(args.raw)
    raw = (json.loads(path.read_text()) if path.exists() else
           {"trials": args.trials, "min_params": low, "max_params": high, "runs": [], "seconds": 0.0,
            "ref": [1.0 - REF_ACCURACY, float(np.log10(high) + REF_MARGIN)]})
    if raw["trials"] != args.trials:
        raise ValueError(f"{path} holds runs of {raw['trials']} trials, not --trials {args.trials}")
    done = {(r["method"], r["seed"]) for r in raw["runs"]}
    for seed in args.seeds:
        for method in args.methods:
            if (method, seed) in done or (args.claim and not claim(Path(args.claim), method, seed)):
                continue
            start = time.perf_counter()
            records = run_one(method, space, data, seed, args.trials)
            raw["seconds"] += time.perf_counter() - start
            raw["runs"].append({"method": method, "seed": seed, "records": records})
            path.write_text(json.dumps(raw))
            s = summary(records, np.array(raw["ref"]), args.trials // 2)
            print(f"seed {seed} {method}: HV {s['hv_half']:.4f} -> {s['hv_end']:.4f}, best acc {s['best']:.4f}, "
                  f"<=5k {s[f'best_{BUDGETS[0]}']:.4f}, {s['wall']:.0f} s, opt {s['opt_s']:.3f} s/trial",
                  flush=True)


def claim(folder: Path, method: str, seed: int) -> bool:
    """Whether this process takes ``(method, seed)``: the first to create its file in ``folder`` does, so
    processes sharing a folder share one queue of runs (in seed order) instead of a fixed split of the seeds."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        (folder / f"{method}-{seed}").open("x").close()
    except FileExistsError:
        return False
    return True


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=60)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    ap.add_argument("--raw", default="mo_architecture.json", help="the raw per-trial records (read, resumed)")
    ap.add_argument("--claim", default=None, help="a folder shared by processes that take runs from one queue")
    ap.add_argument("--report", nargs="+", default=None, help="raw files to merge and report instead of running")
    ap.add_argument("--out", default=None, help="also write the report to this file")
    ap.add_argument("--note", default="", help="with --report: where and how it ran, for the header")
    ap.add_argument("--merged", default=None, help="with --report: also write the merged raw records to this file")
    args = ap.parse_args(argv)
    if args.report is None:
        run(args)
    raw = load_raw(args.report or [args.raw])
    if args.merged:
        Path(args.merged).write_text(json.dumps(raw))
    text = report(raw, args.methods, f"; {args.note}" if args.note else "")
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
