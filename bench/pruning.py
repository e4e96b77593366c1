"""Pruning benchmark: the same Bayesian sweep with no pruner, ``median`` and ``asha``, side by side.

    python bench/pruning.py [--trials 30] [--seed 0] [--override trainer.epochs=20 ...]
    python bench/pruning.py --pruners none median --objectives val_accuracy n_params   # several objectives

For each sweep (same seed, fresh SQLite store) it prints the epochs trained (folds and refits),
wall time, the best cross-validated score and that trial's held-out test score, and ratios against
the run without pruning. Target: >= 40% fewer epochs, best CV score within 0.5 percentage points. With
``--objectives`` the sweeps optimise several values and the pruner compares trials by domination; each sweep's
hypervolume (complete trials, one reference point for all sweeps: the worst value of each objective over all of
them plus a tenth of its range) is printed beside the epochs saved.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mlflow.tracking import MlflowClient

from pipeline.pruning.rules import PRUNERS

ROOT = Path(__file__).resolve().parents[1]


def run_sweep(pruner: str, args: argparse.Namespace, folder: Path) -> tuple[float, str]:
    uri = f"sqlite:///{folder / f'{pruner}.db'}"
    cmd = [sys.executable, str(ROOT / "train.py"), "-m", f"tracking.uri={uri}", f"hydra.sweeper.n_trials={args.trials}",
           f"hydra.sweeper.seed={args.seed}", f"hydra.sweeper.pruner={pruner}", "hydra.sweeper.report=false",
           "hydra.sweeper.register_model=false", "tracking.log_model=false",
           f"hydra.sweep.dir={folder / pruner}", *args.override]
    start = time.perf_counter()
    subprocess.run(cmd, cwd=folder, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start, uri


def front_values(uri: str, names: list[str]) -> list[list[float]]:
    """The complete trials' values of ``names`` as losses (maximized ones negated)."""
    from pipeline import objective

    client = MlflowClient(uri)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()], max_results=5000)
    out = []
    for r in runs:
        if r.data.tags.get("trial.state") != "complete":
            continue
        keys = [objective.run_key(n, True) for n in names]
        if all(k in r.data.metrics for k in keys):
            out.append([objective.sign(objective.known_direction(n)) * r.data.metrics[k] for n, k in zip(names, keys)])
    return out


def summarise(uri: str) -> dict[str, float]:
    client = MlflowClient(uri)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()], max_results=5000)
    trials = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    epochs = 0
    for r in trials:
        folds = [k for k in r.data.metrics if k.startswith("fold_") and k.endswith("/train_loss")]
        epochs += sum(len(client.get_metric_history(r.info.run_id, k)) for k in folds)
        epochs += int(r.data.metrics.get("refit_epochs", 0))
    complete = [r for r in trials if r.data.tags.get("trial.state") == "complete"]
    best = max(complete, key=lambda r: r.data.metrics["cv_mean"])
    return {"epochs": epochs, "pruned": sum(r.data.tags.get("trial.state") == "pruned" for r in trials),
            "best_cv": best.data.metrics["cv_mean"], "best_test": best.data.metrics.get("test_accuracy", float("nan"))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pruners", nargs="+", default=list(PRUNERS), choices=PRUNERS)
    parser.add_argument("--override", nargs="*", default=[], help="extra Hydra overrides for every sweep")
    parser.add_argument("--objectives", nargs="*", default=[], help="several objectives (names the trials return)")
    args = parser.parse_args()
    if args.objectives:
        args.override = [*args.override, f"hydra.sweeper.objective=[{','.join(args.objectives)}]"]
    rows, points = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for pruner in args.pruners:
            seconds, uri = run_sweep(pruner, args, Path(tmp))
            rows[pruner] = {**summarise(uri), "seconds": seconds}
            if args.objectives:
                points[pruner] = front_values(uri, args.objectives)
            print(f"{pruner}: done in {seconds:.0f} s", flush=True)
    if points:
        import numpy as np

        from pipeline.search.pareto import hypervolume, reference_point

        ref = reference_point(np.vstack([np.array(p) for p in points.values() if p]))
        print(f"\nhypervolume of {args.objectives} (losses; reference {ref.tolist()}):")
        for name, p in points.items():
            rows[name]["hv"] = hypervolume(np.array(p), ref) if p else 0.0
            print(f"  {name:<8} {rows[name]['hv']:.6g}" + (f"  ({rows[name]['hv'] / rows['none']['hv']:.3f} of none)"
                                                           if "none" in rows and name != "none" else ""))
    ref = rows.get("none")
    print(f"\nBayesian sweep, {args.trials} trials, seed {args.seed}, overrides {args.override or '(default config)'}")
    print(f"{'pruner':<8} {'epochs':>7} {'vs none':>8} {'pruned':>7} {'wall s':>8} {'vs none':>8} "
          f"{'best cv':>8} {'Δ pp':>6} {'its test':>9}")
    for name, r in rows.items():
        e = r["epochs"] / ref["epochs"] if ref else float("nan")
        w = r["seconds"] / ref["seconds"] if ref else float("nan")
        d = 100 * (r["best_cv"] - ref["best_cv"]) if ref else float("nan")
        print(f"{name:<8} {r['epochs']:>7} {e:>8.2f} {r['pruned']:>7} {r['seconds']:>8.0f} {w:>8.2f} "
              f"{r['best_cv']:>8.4f} {d:>6.2f} {r['best_test']:>9.4f}")
    if ref:
        for name in (n for n in rows if n != "none"):
            saved = 1 - rows[name]["epochs"] / ref["epochs"]
            gap = 100 * (ref["best_cv"] - rows[name]["best_cv"])
            ok = saved >= 0.40 and gap <= 0.5
            verdict = "MET" if ok else "MISSED"
            print(f"target {name}: {saved:.0%} fewer epochs, best CV {gap:+.2f} pp below -> {verdict}")


if __name__ == "__main__":
    main()
