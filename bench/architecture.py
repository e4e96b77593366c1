"""Architecture search on real data: ``evolution``, ``bayes``, ``random`` and Optuna's TPE over the space of
``+sweep=architecture`` (``model=net``: depth 1-4, each reached block's width, kernel, activation, normalisation
and skip connection, and the learning rate), at the same number of trials, side by side in one run.

Each trial is this project's own k-fold training (``pipeline.training.cv.cross_validate``) on the composed config,
in this process (no Hydra job, no MLflow: the optimizers are compared, not the tracking). Data: scikit-learn's
digits (1797 8x8 images, conv blocks) and breast cancer (569 samples of 30 features, dense blocks, no kernels),
both shipped inside scikit-learn's wheel. Reported per data set and method, median over seeds: the best
cross-validated accuracy, its held-out test accuracy (the best configuration refit on the whole training part),
wall time, and how many trials each needed to come within 0.5 pp of the best any method found in that seed.

    python bench/architecture.py                       # 60 trials, 2 seeds, both data sets
    python bench/architecture.py --trials 30 --seeds 1 --data digits
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# one thread per process: the methods are compared at equal compute
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

TRAINING = ["trainer.epochs=8", "cv.folds=2", "regularization.early_stopping.patience=2", "trainer.batch_size=64",
            "cv.refit=false", "trainer.num_threads=1"]
METHODS = ("evolution", "bayes", "random", "optuna_tpe")
WITHIN = 0.005  # "within 0.5 pp of the best found by any method"


def preset_space(vectors: bool) -> Any:
    """The space of ``conf/sweep/architecture.yaml`` (without kernels for vector data)."""
    from pipeline.search import SearchSpace

    sweeper = yaml.safe_load((ROOT / "conf" / "sweep" / "architecture.yaml").read_text())["hydra"]["sweeper"]
    params = {k: v for k, v in sweeper["params"].items() if not (vectors and k.endswith(".kernel"))}
    conditions = {k: v for k, v in sweeper["conditions"].items() if k in params}
    return SearchSpace.from_grammar(params, conditions)


def load(name: str) -> Any:
    """The data set as a ``DataSplit`` (the same stratified test split for every method)."""
    import torch
    from sklearn.datasets import load_breast_cancer, load_digits
    from sklearn.model_selection import train_test_split

    from pipeline.contract import DataSplit, TensorData, checked

    if name == "digits":
        d = load_digits()
        X = (d.images / 16.0).astype(np.float32)[:, None]
    else:
        d = load_breast_cancer()
        X = d.data.astype(np.float32)
    Xtr, Xte, ytr, yte = train_test_split(X, d.target, test_size=0.2, stratify=d.target, random_state=0)
    part = lambda x, y: TensorData(torch.as_tensor(x), torch.as_tensor(y, dtype=torch.int64))  # noqa: E731
    return checked(DataSplit(part(Xtr, ytr), part(Xte, yte), name=name), name)


def config(params: dict[str, Any]) -> Any:
    from pipeline.results.reproduce import compose

    return compose(["model=net", *TRAINING, *[f"{k}={_text(v)}" for k, v in params.items()]])


def _text(v: Any) -> str:
    return str(v).lower() if isinstance(v, bool) else str(v)


def score(params: dict[str, Any], data: Any) -> float:
    """The cross-validated accuracy of one configuration (0 when its training fails)."""
    import torch

    from pipeline.training.cv import cross_validate

    try:
        return float(cross_validate(config(params), data, torch.device("cpu")).mean)
    except Exception:  # noqa: BLE001 - a diverged or invalid configuration counts as a failed trial
        return 0.0


def test_score(params: dict[str, Any], data: Any) -> float:
    """The held-out accuracy of ``params`` refit on the whole training part."""
    import torch

    from pipeline.training.cv import refit

    cfg = config(params)
    result = refit(cfg, data, int(cfg.trainer.epochs), torch.device("cpu"))
    return float(result.test["test_accuracy"])


def run_ours(strategy: str, space: Any, data: Any, seed: int, trials: int) -> list[tuple[dict[str, Any], float]]:
    from pipeline.search import make_optimizer

    opt = make_optimizer(strategy, space, seed=seed, direction="maximize",
                         **({"population": 12, "sample_size": 3} if strategy == "evolution" else {}))
    history = []
    for _ in range(trials):
        [p] = opt.ask(1)
        value = score(p, data)
        opt.tell(p, value)
        history.append((p, value))
    return history


def run_optuna(space: Any, data: Any, seed: int, trials: int) -> list[tuple[dict[str, Any], float]]:
    """Optuna's TPE (multivariate, grouped: its answer to conditional spaces), define-by-run over the same space."""
    import optuna

    from pipeline.search.params import CategoricalParam, FloatParam, IntParam

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(
        seed=seed, multivariate=True, group=True, n_startup_trials=10))
    history = []

    def objective(trial: Any) -> float:
        point: dict[str, Any] = {}
        for p in space.params:  # parents first: the space lists depth before the layers
            if p.name not in space.active({**point, **{q.name: None for q in space.params if q.name not in point}}):
                continue
            if isinstance(p, CategoricalParam):
                point[p.name] = trial.suggest_categorical(p.name, list(p.choices))
            elif isinstance(p, IntParam):
                point[p.name] = trial.suggest_int(p.name, p.low, p.high, log=p.log)
            elif isinstance(p, FloatParam):
                point[p.name] = trial.suggest_float(p.name, p.low, p.high, log=p.log)
        value = score(point, data)
        history.append((point, value))
        return value

    study.optimize(objective, n_trials=trials)
    return history


def trials_to_reach(values: list[float], target: float) -> int | None:
    """The 1-based trial at which the running best first reaches ``target`` (None: never)."""
    best = np.maximum.accumulate(values)
    hit = np.flatnonzero(best >= target - 1e-12)
    return int(hit[0]) + 1 if len(hit) else None


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=60)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--data", nargs="+", default=["digits", "breast_cancer"])
    ap.add_argument("--methods", nargs="+", default=list(METHODS))
    ap.add_argument("--out", default=None, help="also write the table to this file")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    lines = [f"Architecture search: {args.trials} trials, seeds 0..{args.seeds - 1}, training {' '.join(TRAINING)}"]
    for name in args.data:
        data, space = load(name), preset_space(vectors=name != "digits")
        runs: dict[tuple[str, int], tuple[list[tuple[dict[str, Any], float]], float]] = {}
        for seed in range(args.seeds):
            for method in args.methods:
                start = time.perf_counter()
                hist = (run_optuna(space, data, seed, args.trials) if method == "optuna_tpe"
                        else run_ours(method, space, data, seed, args.trials))
                runs[method, seed] = (hist, time.perf_counter() - start)
                print(f"{name} seed {seed} {method}: best {max(v for _, v in hist):.4f} "
                      f"({runs[method, seed][1]:.0f} s)", flush=True)
        lines += ["", f"{name} ({space.dim} parameters, {len(space.conditions)} conditional)",
                  f"{'method':<12} {'best cv acc':>11} {'test acc':>9} {'trials to within 0.5 pp':>24} {'wall s':>7}"]
        for method in args.methods:
            bests, tests, reach, walls = [], [], [], []
            for seed in range(args.seeds):
                hist, wall = runs[method, seed]
                values = [v for _, v in hist]
                top = max(max(v for _, v in runs[m, seed][0]) for m in args.methods)
                best_params = hist[int(np.argmax(values))][0]
                bests.append(max(values))
                tests.append(test_score(best_params, data))
                reach.append(trials_to_reach(values, top - WITHIN))
                walls.append(wall)
            reached = [r for r in reach if r is not None]
            reach_text = (f"{np.median(reached):.0f} ({len(reached)}/{len(reach)} seeds)" if reached
                          else f"never (0/{len(reach)})")
            lines.append(f"{method:<12} {np.median(bests):>11.4f} {np.median(tests):>9.4f} {reach_text:>24} "
                         f"{np.median(walls):>7.0f}")
    text = "\n".join(lines)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
