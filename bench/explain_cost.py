"""What explanations cost against the sweep they explain (target: under 10% of the default sweep's wall time).

    python bench/explain_cost.py [--trials N] [ARGS...]

Runs the default sweep (``python train.py -m``: bayes on the default data and space, 20 trials unless
``--trials``) into a fresh SQLite store and reads back, from MLflow, the sweep's wall time (its parent run's start
to end), the time its final report spent on the hyperparameters' effects (``explain.effects_seconds``) and the time
the best trial's model explanation took (``explain.seconds`` on that trial, built after the sweep in the registry's
process). Prints each, and their share of the sweep's wall time; ``--compare`` also runs the same sweep with
``hydra.sweeper.explain_model=false`` and prints both wall times (the whole command, explanations included).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = 0.10


def sweep(folder: Path, args: list[str]) -> tuple[float, dict]:
    """Run the default sweep into ``folder``; the command's wall time and what MLflow holds of it."""
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{folder / 'mlflow.db'}"
    start = time.monotonic()
    proc = subprocess.run([sys.executable, str(ROOT / "train.py"), "-m", f"tracking.uri={uri}",
                           f"hydra.sweep.dir={folder / 'sweep'}", *args], cwd=folder, capture_output=True, text=True)
    wall = time.monotonic() - start
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-3000:])
    client = MlflowClient(uri)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()], max_results=5000)
    [parent] = [r for r in runs if "sweep.strategy" in r.data.tags]
    best = next((r for r in runs if r.info.run_id == parent.data.tags.get("best.run_id")), None)
    return wall, {"sweep": (parent.info.end_time - parent.info.start_time) / 1000,
                  "effects": float(parent.data.tags.get("explain.effects_seconds", "nan")),
                  "model": float(best.data.tags.get("explain.seconds", "nan")) if best else float("nan"),
                  "trials": sum(r.data.tags.get("mlflow.parentRunId") == parent.info.run_id for r in runs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=None, help="default: the sweep's own (20)")
    parser.add_argument("--compare", action="store_true", help="also run it with hydra.sweeper.explain_model=false")
    known, extra = parser.parse_known_args()
    args = ([f"hydra.sweeper.n_trials={known.trials}"] if known.trials else []) + extra
    with tempfile.TemporaryDirectory() as tmp:
        wall, got = sweep(Path(tmp), args)
        share = (got["effects"] + got["model"]) / got["sweep"]
        print(f"default sweep ({got['trials']} trials{', ' + ' '.join(args) if args else ''}): "
              f"{got['sweep']:.1f} s (parent run), command {wall:.1f} s")
        print(f"  hyperparameter effects in the final report: {got['effects']:.2f} s "
              f"({got['effects'] / got['sweep']:.1%} of the sweep)")
        print(f"  best trial's model explanation:            {got['model']:.2f} s "
              f"({got['model'] / got['sweep']:.1%} of the sweep)")
        print(f"  together: {share:.1%} of the sweep's wall time (target < {TARGET:.0%}): "
              f"{'met' if share < TARGET else 'MISSED'}")
    if known.compare:
        with tempfile.TemporaryDirectory() as tmp:
            off, _ = sweep(Path(tmp), [*args, "hydra.sweeper.explain_model=false"])
        print(f"  command wall time with explanations {wall:.1f} s, without {off:.1f} s: ratio {wall / off:.3f}")


if __name__ == "__main__":
    main()
