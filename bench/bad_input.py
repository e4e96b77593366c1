"""Bad input as a new user types it: each command is run as it is, from a fresh store, and judged clean when it
exits 2 with at most two lines of output that name the value, and leaves nothing in MLflow. Prints a table (exit
code, lines, seconds to the error, runs written, clean or not) and the clean count out of the total.

    python bench/bad_input.py                      # this tree
    python bench/bad_input.py --root /path/to/other/tree --out bench/results/bad_input_before.txt
"""

from __future__ import annotations

import argparse
import os
import shlex
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
TINY = ["trainer.epochs=1", "cv.folds=2", "data.subset=200", "cv.refit=false", "hydra.sweeper.n_trials=3",
        "hydra.sweeper.report=false", "hydra.sweeper.register_model=false"]
# (what it is, the command's arguments after train.py, the text the error must name)
SWEEPS = [
    ("optimizer target that does not import", ["-m", "optimizer._target_=torch.optim.Adamm"], "Adamm"),
    ("loss target that does not import", ["-m", "+loss={_target_: torch.nn.NopeLoss}"], "NopeLoss"),
    ("objective the trials do not return", ["-m", "hydra.sweeper.objective=foo"], "objective"),
    ("cuda without a GPU", ["-m", "trainer.device=cuda"], "cuda"),
    ("grid naming no grid", ["-m", "hydra/sweeper=grid"], "grid"),
    ("cv.refit not a boolean", ["-m", "cv.refit=maybe"], "maybe"),
    ("negative thread count", ["-m", "trainer.num_threads=-2"], "num_threads"),
    ("sweeper seed not an integer", ["-m", "hydra.sweeper.seed=abc"], "seed"),
    ("learning rate below zero (fixed)", ["-m", "optimizer.lr=-1"], "optimizer.lr"),
    ("unknown metric", ["-m", "cv.metric=val_auc"], "val_auc"),
    ("unknown direction", ["-m", "hydra.sweeper.direction=up"], "up"),
    ("unknown strategy", ["-m", "hydra.sweeper.strategy=tpe"], "tpe"),
    ("unknown pruner", ["-m", "pruning.pruner=hyperband"], "hyperband"),
    ("n_trials zero", ["-m", "hydra.sweeper.n_trials=0"], "n_trials"),
    ("model factory refusing a width", ["-m", "model.hidden_dim=0"], "hidden_dim"),
    ("scheduler target that does not import", ["-m", "scheduler=step", "scheduler._target_=torch.optim.Nope"],
     "Nope"),
    ("dropout above one", ["-m", "regularization.dropout=1.5"], "dropout"),
    ("plateau mode against the objective", ["-m", "scheduler=plateau", "+scheduler.mode=min"], "mode"),
    ("log_model not a choice", ["-m", "tracking.log_model=maybe"], "maybe"),
    ("test fraction above one", ["-m", "data.test_fraction=2"], "test_fraction"),
    ("searched interval upside down", ["-m", "optimizer.lr=interval(0.1,0.001)"], "optimizer.lr"),
    ("max_failure_rate above one", ["-m", "hydra.sweeper.max_failure_rate=2"], "max_failure_rate"),
]
COMMANDS = [
    ("reproduce of a run that does not exist", ["-m", "pipeline.reproduce", "deadbeef"], "deadbeef"),
    ("report of a run that does not exist", ["-m", "pipeline.report", "deadbeef"], "deadbeef"),
    ("registry of a run that does not exist", ["-m", "pipeline.registry", "deadbeef"], "deadbeef"),
]


def run(root: Path, args: list[str], store: Path, sweep: bool) -> tuple[int, list[str], float]:
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{store}", "HYDRA_FULL_ERROR": "0"}
    # the tiny budget first, the case after it: a later override wins
    cmd = [sys.executable, *(([str(root / "train.py"), args[0], *TINY, *args[1:],
                               f"hydra.sweep.dir={store.parent / 'sweep'}"]) if sweep else args)]
    if not sweep:  # a command reading runs back is given a store that exists, without the run it names
        from mlflow.tracking import MlflowClient

        MlflowClient(f"sqlite:///{store}").search_experiments()
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=store.parent, env={**env, "PYTHONPATH": str(root)}, capture_output=True, text=True,
                          timeout=600)
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    return done.returncode, lines, time.perf_counter() - start


def runs_in(store: Path) -> int:
    if not store.exists():
        return 0
    with sqlite3.connect(store) as db:
        try:
            return db.execute("select count(*) from runs").fetchone()[0]
        except sqlite3.OperationalError:
            return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=HERE, help="the tree whose train.py and commands are run")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    rows, clean = [], 0
    cases = [(w, c, n, True) for w, c, n in SWEEPS] + [(w, c, n, False) for w, c, n in COMMANDS]
    for what, cmd, named, sweep in cases:
        with tempfile.TemporaryDirectory() as tmp:
            store = Path(tmp) / "mlflow.db"
            code, lines, seconds = run(args.root.resolve(), cmd, store, sweep)
            written = runs_in(store)
        ok = (code == 2 and 0 < len(lines) <= 2 and written == 0
              and any(named in line and "expected" in line for line in lines))
        clean += ok
        first = (lines[-1] if lines else "")[:110]
        rows.append(f"{'clean' if ok else 'NOT ':<5} exit {code:>3}  {len(lines):>3} lines  {seconds:5.1f} s  "
                    f"{written:>2} runs  {what}: {shlex.join(cmd)}\n      {first}")
        print(rows[-1], flush=True)
    summary = f"clean: {clean} of {len(cases)} ({args.root})"
    print(summary)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join([*rows, summary]) + "\n")


if __name__ == "__main__":
    main()
