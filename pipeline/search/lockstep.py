"""Independent L-BFGS-B runs in lockstep: each run is scipy's own, with its own line searches and stopping rule,
but the function values all runs ask for at a step are computed together, in one batched call.

A local search from a few starts spends most of its time in per-call overhead (one small torch graph per
point), not in arithmetic; batching the calls of independent runs removes it without coupling the runs
(Optuna's ``batched_lbfgsb`` does the same with greenlets). Here each run waits in a thread of its own while
the calling thread evaluates the batch; the iterates are those of the runs done one after another.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.optimize as so

# fun(ids, Z) -> (values (m,), gradients (m, k)): the objectives of runs ``ids`` at their points ``Z (m, k)``.
BatchFn = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def minimize_lockstep(fun: BatchFn, x0: np.ndarray, bounds: list[tuple[float, float]],
                      options: dict[str, Any]) -> np.ndarray:
    """Minimize run ``i`` from ``x0[i]`` (``x0 (s, k)``) with L-BFGS-B within ``bounds``; the final points ``(s,
    k)``."""
    n = len(x0)
    cond = threading.Condition()
    asked: dict[int, np.ndarray] = {}
    answers: dict[int, tuple[float, np.ndarray] | None] = {}
    running, out, errors = set(range(n)), np.array(x0, dtype=np.float64), []

    def run(i: int) -> None:
        def one(z: np.ndarray) -> tuple[float, np.ndarray]:
            with cond:
                asked[i] = np.array(z, dtype=np.float64)
                cond.notify_all()
                cond.wait_for(lambda: i in answers)
                answer = answers.pop(i)
            if answer is None:
                raise RuntimeError("the batched evaluation failed")
            return answer

        try:
            out[i] = so.minimize(one, out[i], jac=True, method="L-BFGS-B", bounds=bounds, options=options).x
        except Exception as e:  # noqa: BLE001 - handed to the calling thread
            errors.append(e)
        finally:
            with cond:
                running.discard(i)
                cond.notify_all()

    threads = [threading.Thread(target=run, args=(i,), daemon=True, name=f"lbfgsb-{i}") for i in range(n)]
    for t in threads:
        t.start()
    try:
        with cond:
            while True:
                cond.wait_for(lambda: running <= asked.keys())  # every run still going waits for a value
                if not running:
                    break
                ids = np.array(sorted(asked))
                Z = np.stack([asked.pop(int(i)) for i in ids])
                try:
                    values, grads = fun(ids, Z)
                    for j, i in enumerate(ids):
                        answers[int(i)] = (float(values[j]), np.asarray(grads[j], dtype=np.float64))
                except Exception as e:  # noqa: BLE001 - every waiting run stops; the first error is raised
                    errors.insert(0, e)
                    answers.update({int(i): None for i in ids})
                cond.notify_all()
    finally:  # an interrupt (Ctrl-C, SIGTERM) too: no run is left waiting for a value
        stop_waiting(cond, running, answers)
        for t in threads:
            t.join()
    if errors:
        raise errors[0]
    return out


def stop_waiting(cond: threading.Condition, running: set[int], answers: dict[int, Any]) -> None:
    """Answer every run still going with None (its next request raises, so it ends)."""
    while True:
        with cond:
            if not running:
                return
            answers.update({i: None for i in running})
            cond.notify_all()
            cond.wait(0.01)
