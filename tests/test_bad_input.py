"""Property test: malformed sweep grammar, override values and config choices end cleanly.

Each case ends with a message and no traceback, a non-zero exit, and the store either untouched or
holding only a parent run marked FAILED (with FAILED children).
"""

from __future__ import annotations

import os
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
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
    if is_valid_sweep(expr):
        return  # well-formed grammar: the other tests cover bad values
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
