"""L-BFGS-B runs in lockstep: the same iterates as separate runs, their calls batched, errors raised."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import scipy.optimize as so

from pipeline.search.lockstep import minimize_lockstep

BOUNDS = [(-2.0, 2.0), (-2.0, 2.0)]
OPTIONS = {"maxiter": 200, "gtol": 1e-8}
# Run i minimizes a Rosenbrock valley shifted by SHIFTS[i]: runs of very different lengths
SHIFTS = np.array([[0.0, 0.0], [0.5, -0.3], [-1.0, 0.2], [0.9, 0.9]])
STARTS = np.array([[-1.5, 1.5], [0.0, 0.0], [1.2, -1.0], [0.9, 0.9]])


def rosen(z: np.ndarray, shift: np.ndarray) -> tuple[float, np.ndarray]:
    x = z - shift
    return so.rosen(x + 1.0), so.rosen_der(x + 1.0)


def test_the_same_points_as_separate_runs_with_calls_batched():
    separate = [so.minimize(rosen, STARTS[i], args=(SHIFTS[i],), jac=True, method="L-BFGS-B", bounds=BOUNDS,
                            options=OPTIONS) for i in range(len(STARTS))]
    batches = []

    def fun(ids, Z):
        batches.append(list(ids))
        out = [rosen(z, SHIFTS[i]) for i, z in zip(ids, Z)]
        return np.array([v for v, _ in out]), np.array([g for _, g in out])

    X = minimize_lockstep(fun, STARTS, BOUNDS, OPTIONS)
    assert np.array_equal(X, np.array([r.x for r in separate]))
    assert len(batches) == max(r.nfev for r in separate) < sum(r.nfev for r in separate)
    assert batches[0] == [0, 1, 2, 3] and all(b == sorted(b) for b in batches)
    assert [t for t in threading.enumerate() if t.name.startswith("lbfgsb-")] == []


def test_an_error_in_the_batch_is_raised_and_every_run_ends():
    calls = []

    def fun(ids, Z):
        calls.append(len(ids))
        if len(calls) == 3:
            raise ValueError("the acquisition broke")
        return (Z ** 2).sum(1), 2 * Z

    with pytest.raises(ValueError, match="the acquisition broke"):
        minimize_lockstep(fun, STARTS, BOUNDS, OPTIONS)
    assert [t for t in threading.enumerate() if t.name.startswith("lbfgsb-")] == []


def test_an_interrupt_leaves_no_run_waiting():
    def fun(ids, Z):
        raise KeyboardInterrupt  # Ctrl-C, or SIGTERM turned into one by the sweeper, while a batch is scored

    with pytest.raises(KeyboardInterrupt):
        minimize_lockstep(fun, STARTS, BOUNDS, OPTIONS)
    assert [t for t in threading.enumerate() if t.name.startswith("lbfgsb-")] == []
