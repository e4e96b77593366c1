"""A Hydra app whose task returns a formula's value at once: the trivial task of bench/sweeper_cost.py.

Branin in (x1, x2), plus a quadratic in the integer ``n`` and an offset per categorical ``kind``: a 4-D
mixed space whose minimum, 0.397887, is at Branin's three minima with n=3 and kind=a. Imports only the
standard library and Hydra (it runs under Hydra's Optuna sweeper in a venv without our package).

When ``FORMULA_TASK_LOG`` names a file, each call appends one line ``<start epoch s> <task seconds>`` to
it, so the benchmark can subtract the task's own time from the sweep's wall time.
"""

from __future__ import annotations

import math
import os
import time

import hydra
from omegaconf import DictConfig

TASK_LOG_ENV = "FORMULA_TASK_LOG"
KIND_OFFSET = {"a": 0.0, "b": 1.0, "c": 2.0}


def formula(x1: float, x2: float, n: int, kind: str) -> float:
    """Branin(x1, x2) + 0.1 (n - 3)^2 + the offset of ``kind``; x1 in [-5, 10], x2 in [0, 15]."""
    b, c = 5.1 / (4 * math.pi**2), 5 / math.pi
    branin = (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x1) + 10
    return branin + 0.1 * (n - 3) ** 2 + KIND_OFFSET[str(kind)]


@hydra.main(version_base=None, config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float:
    start, t0 = time.time(), time.perf_counter()
    value = formula(float(cfg.x1), float(cfg.x2), int(cfg.n), str(cfg.kind))
    log = os.environ.get(TASK_LOG_ENV)
    if log:
        with open(log, "a") as f:  # one short O_APPEND write: lines from parallel workers do not interleave
            f.write(f"{start:.6f} {time.perf_counter() - t0:.9f}\n")
    return value


if __name__ == "__main__":
    main()
