"""Shared pieces of bench/scale_out.py: paths, targets, variants, the report writer, small helpers."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# MLflow 3's telemetry thread sets and unsets _MLFLOW_TELEMETRY_SESSION_ID in os.environ while requests
# iterates os.environ for proxy settings: a REST call then fails with KeyError (seen here in server mode).
# Off for this process, the server and the sweeps alike (it also cannot reach its endpoint from here).
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

RESULTS = ROOT / "bench" / "results" / "scale_out.txt"
THROUGHPUT_TARGET = 1.6
SERVER_TARGET = 1.05
SERVER_START_TIMEOUT = 300.0  # ~20 s on a quiet 2-core machine, minutes on a loaded one
VARIANTS = {"1w-t0": (1, 0), "1w-t1": (1, 1), "2w-t1": (2, 1), "2w-t0": (2, 0)}  # name: (workers, threads)
# The target compares 2 workers with 1, each trial on one torch thread (the project default since
# trainer.num_threads=1); the 2-thread single worker is reported against the same baseline.
BASELINE, CANDIDATE = "1w-t1", "2w-t1"
WARMUP = ["trainer.epochs=1", "cv.folds=2", "data.subset=200", "cv.refit=false", "tracking.log_checkpoints=false",
          "tracking.log_model=false"]


class Report:
    """Prints each line as it comes and saves them all to ``path`` at the end (and on failure)."""

    def __init__(self, path: Path | None) -> None:
        self.path, self.lines = path, []

    def __call__(self, line: str = "") -> None:
        print(line, flush=True)
        self.lines.append(line)
        self.save()  # a run stopped half-way still leaves what it measured

    def save(self) -> None:
        if self.path:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text("\n".join(self.lines) + "\n")


def fmt_s(seconds: float) -> str:
    return f"{seconds * 1000:.1f}ms" if seconds < 1 else f"{seconds:.2f}s"


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def clean_env() -> dict[str, str]:
    """The environment of the sweeps: no MLFLOW_TRACKING_URI of the caller's, no Hydra full traces."""
    return {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "HYDRA_FULL_ERROR")}
