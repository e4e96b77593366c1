"""Property test: malformed sweep grammar, override values and config choices end cleanly.

Each case ends with a message and no traceback, a non-zero exit, and the store either untouched or
holding only a parent run marked FAILED (with FAILED children).
"""

from __future__ import annotations

import os
import uuid

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pipeline.search.grammar import parse_param
from tests.conftest import SWEEP_FAST, mlflow_runs, run_train_in_process

pytestmark = pytest.mark.slow

TOKENS = ["interval", "choice", "range", "tag", "log", "int", "(", ")", ",", "=", "[", "]", "{", "}", ":", "'",
          "-1", "0", "1e-3", "abc", " ", "nan", "inf", "null", "$", "\\"]
grammar = st.lists(st.sampled_from(TOKENS), min_size=1, max_size=8).map("".join)
values = st.one_of(st.text(alphabet="abcxyz-_.0123456789 ()[],", min_size=1, max_size=10),
                   st.sampled_from(["-1", "0", "-0.5", "1e309", "nan", "null", "true", "[1,2]", "{a: 1}"]))
KEYS = ["optimizer.lr", "trainer.batch_size", "cv.folds", "trainer.epochs", "regularization.dropout",
        "model.activation", "cv.metric", "trainer.device"]
GROUPS = ["model", "optimizer", "data", "regularization", "hydra/sweeper"]
SETTINGS = settings(max_examples=10, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def check_clean_failure(code: int, output: str, db) -> None:
    assert code != 0, output[-2000:]
    assert "Traceback" not in output, output[-3000:]
    if db.exists() and db.stat().st_size:
        runs = mlflow_runs(f"sqlite:///{db}")
        parents = [r for r in runs if "sweep.strategy" in r.data.tags]
        assert all(r.info.status == "FAILED" for r in runs), [(r.info.run_name, r.info.status) for r in runs]
        assert len(parents) <= 1


@pytest.fixture
def store(tmp_path):
    """A fresh store path per hypothesis example (fixtures are shared by a test's examples)."""
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    return lambda: tmp_path / f"{uuid.uuid4().hex}.db"


def is_valid_sweep(text: str) -> bool:
    try:
        parse_param("optimizer.lr", text)
    except Exception:
        return False
    return True


@SETTINGS
@given(expr=grammar)
def test_malformed_sweep_grammar(store, tmp_path, capfd, expr):
    assume(not is_valid_sweep(expr))  # well-formed grammar: the other tests cover bad values
    store = store()
    code, out = run_train_in_process(["-m", *SWEEP_FAST, f"tracking.uri=sqlite:///{store}",
                                      f"hydra.sweep.dir={tmp_path / 'sweep'}", "hydra.sweeper.n_trials=3",
                                      f"optimizer.lr={expr}"], capfd)
    check_clean_failure(code, out, store)
    assert "optimizer.lr" in out or expr.strip() in out, out[-2000:]


@SETTINGS
@given(key=st.sampled_from(KEYS), value=values)
def test_bad_override_values(store, tmp_path, capfd, key, value):
    store = store()
    code, out = run_train_in_process([*SWEEP_FAST, "data.subset=100", f"tracking.uri=sqlite:///{store}",
                                      f"hydra.run.dir={tmp_path / 'run'}", f"{key}={value}"], capfd)
    if code == 0:
        return  # an odd but valid value (e.g. trainer.epochs=1): fine
    check_clean_failure(code, out, store)
    assert key in out or value.strip() in out, out[-2000:]


@SETTINGS
@given(group=st.sampled_from(GROUPS), choice=st.text(alphabet="abcxyz_-0123456789", min_size=1, max_size=8))
def test_unknown_config_choices(store, tmp_path, capfd, group, choice):
    store = store()
    code, out = run_train_in_process([*SWEEP_FAST, f"tracking.uri=sqlite:///{store}",
                                      f"hydra.run.dir={tmp_path / 'run'}", f"{group}={choice}"], capfd)
    check_clean_failure(code, out, store)
    assert choice in out


# Sweep values a trial would reject, inside (quoted) grammar: caught when the sweep is planned, before any run.
RANGES = {"optimizer.lr": (lambda v: v > 0, False), "regularization.dropout": (lambda v: 0 <= v < 1, False),
          "regularization.weight_decay": (lambda v: v >= 0, False), "trainer.batch_size": (lambda v: v >= 1, True),
          "model.hidden_dim": (lambda v: v >= 1, True), "trainer.epochs": (lambda v: v >= 1, True)}
bounds = st.sampled_from([-5, -1, 0, 1, 2, 3, 64, 0.5, 0.99, 1.5])


@SETTINGS
@given(key=st.sampled_from(sorted(RANGES)), low=bounds, high=bounds, quote=st.sampled_from(["", "'", '"']),
       form=st.sampled_from(["interval", "choice"]))
def test_bad_sweep_values_stop_before_the_first_trial(store, tmp_path, capfd, key, low, high, quote, form):
    ok, integer = RANGES[key]
    low, high = sorted((int(low), int(high)) if integer else (low, high))
    if low == high or (ok(low) and ok(high)):
        return  # a valid space: the sweep tests run those
    inner = f"interval({low},{high})" if form == "interval" else f"choice({high},{low})"
    expr = f"int({inner})" if integer and form == "interval" else inner
    store = store()
    base = [o for o in SWEEP_FAST if not o.startswith(key + "=")]  # a fixed value would take the key's place
    code, out = run_train_in_process(["-m", *base, f"tracking.uri=sqlite:///{store}",
                                      f"hydra.sweep.dir={tmp_path / 'sweep'}", "hydra.sweeper.n_trials=2",
                                      f"{key}={quote}{expr}{quote}"], capfd)
    assert code == 2, out[-2000:]
    assert "Traceback" not in out and key in out.strip().splitlines()[-1], out[-2000:]
    assert not (store.exists() and mlflow_runs(f"sqlite:///{store}"))  # nothing written: no trial, no parent
