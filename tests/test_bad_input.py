"""Property tests: a bad value for any key of ``conf/`` or of the sweeper stops the command before the first trial,
with one line naming the key, the value and what was expected, exit 2, and nothing written to MLflow.

Bad values are generated for every key: ``BAD`` must cover each leaf of the composed config and each option of the
sweeper (a new key without bad values fails ``test_every_key_has_bad_values``). Each value is first checked where
it is refused, in this process (the config's checks, the sweeper's plan, Hydra's composition: fast, so every key
gets its examples); then a sample of them is typed as a user types it, ``python train.py -m ...``, end to end.
"""

from __future__ import annotations

import os
import re
import uuid

import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pipeline.errors import ConfigError, DataError, TrackingError
from pipeline.search.grammar import parse_param
from tests.conftest import SWEEP_FAST, mlflow_runs, run_train_in_process

TEXT = st.text(alphabet="abcxyz_", min_size=1, max_size=6)
NEGATIVE = st.integers(-9, -1).map(str)
FRACTION = st.sampled_from(["1.5", "2.25"])
# key -> a strategy of values the key refuses. A constructor argument of a _target_ (optimizer.betas) is refused by
# the class it is passed to, which names its entry (optimizer._target_) and the argument's own words.
BAD: dict[str, st.SearchStrategy[str]] = {
    "data._target_": st.sampled_from(["pipeline.data.nope", "nope_pkg.data"]),
    "data.test_fraction": st.sampled_from(["0", "1", "2", "-0.5"]) | TEXT,
    "data.subset": st.sampled_from(["1", "5", "-3", "2.5"]) | TEXT,
    "data.seed": TEXT | FRACTION,
    "model._target_": st.sampled_from(["pipeline.models.resnet", "nope_pkg.net"]),
    "model.num_layers": NEGATIVE | TEXT,
    "model.hidden_dim": st.sampled_from(["0"]) | NEGATIVE | TEXT,
    "model.activation": TEXT.filter(lambda s: s not in ("relu", "gelu", "tanh", "sigmoid", "leaky_relu")),
    "model.batch_norm": st.sampled_from(["maybe", "yes_no"]),
    "model.dropout": st.sampled_from(["1.5", "2.25"]) | NEGATIVE,
    "optimizer._target_": st.sampled_from(["torch.optim.Adamm", "nope_pkg.Opt"]),
    "optimizer.lr": st.sampled_from(["0", "-0.1"]) | NEGATIVE | TEXT,
    "optimizer.betas": st.sampled_from(["[2,3]", "[1.5,0.9]"]),
    "optimizer.weight_decay": NEGATIVE,
    "regularization.dropout": FRACTION | NEGATIVE | TEXT,
    "regularization.weight_decay": NEGATIVE | TEXT,
    "regularization.l1": NEGATIVE | TEXT,
    "regularization.label_smoothing": st.sampled_from(["1", "1.5", "-0.1"]) | TEXT,
    "regularization.early_stopping.patience": NEGATIVE | TEXT | st.just("1.5"),
    "regularization.early_stopping.min_delta": NEGATIVE | TEXT,
    "trainer.epochs": st.sampled_from(["0", "1.5"]) | NEGATIVE | TEXT,
    "trainer.batch_size": st.sampled_from(["0", "2.5"]) | NEGATIVE | TEXT,
    "trainer.seed": TEXT | st.just("1.5"),
    "trainer.device": st.sampled_from(["tpu", "gpu", "3"] + ([] if torch.cuda.is_available() else ["cuda"])),
    "trainer.num_threads": NEGATIVE | TEXT | st.just("1.5"),
    "trainer.precision": st.sampled_from(["8", "fp16", "64"]) | TEXT,
    "trainer.normalize": st.sampled_from(["maybe", "2"]),
    "trainer.num_workers": NEGATIVE | TEXT,
    "loss": st.sampled_from(["{_target_: torch.nn.NopeLoss}", "{_target_: nope_pkg.Loss}"]),
    "cv.folds": st.sampled_from(["0", "1", "2.5", "1000"]) | TEXT,
    "cv.metric": st.sampled_from(["val_auc", "accuracy", "val_rmse"]),
    "cv.refit": st.sampled_from(["maybe", "2"]),
    "pruning.pruner": TEXT.filter(lambda s: s not in ("none", "median", "asha")),
    "pruning.n_startup_trials": NEGATIVE | TEXT,
    "pruning.n_warmup_steps": NEGATIVE | TEXT,
    "pruning.min_resource": st.just("0") | NEGATIVE | TEXT,
    "pruning.reduction_factor": st.sampled_from(["0", "1"]) | TEXT,
    "pruning.min_early_stopping_rate": NEGATIVE | TEXT,
    "pruning.objectives": st.sampled_from(["[val_accuracy,nope]", "[abc]"]),
    "tracking.uri": st.sampled_from(["file:///tmp/mlruns", "/tmp/mlruns", "http://127.0.0.1:9"]),
    "tracking.experiment": st.just("''"),
    "tracking.run_name": st.just("''"),
    "tracking.log_checkpoints": st.sampled_from(["maybe", "2"]),
    "tracking.log_model": st.sampled_from(["maybe", "2", "always"]),
    "tracking.model_format": st.sampled_from(["onnx", "torchscript"]),
}
# Keys no user sets: the sweeper passes them to each trial (the trial protocol); constants of an entry.
NOT_SET_BY_USERS = {"tracking.parent_run_id", "tracking.trial_number", "tracking.run_id", "model._partial_",
                    "optimizer._partial_"}
# The sweeper's options (hydra.sweeper.<key>); strategy options are checked under their strategy.
SWEEPER_BAD: dict[str, tuple[str, st.SearchStrategy[str]]] = {
    "n_trials": ("bayes", st.sampled_from(["0"]) | NEGATIVE | TEXT),
    "n_jobs": ("bayes", st.sampled_from(["0"]) | NEGATIVE | TEXT),
    "batch_size": ("bayes", st.sampled_from(["0"]) | NEGATIVE | TEXT),
    "seed": ("bayes", TEXT | st.just("1.5")),
    "direction": ("bayes", st.sampled_from(["up", "max", "min", "[maximize,minimize]", "[up,down]"])),
    "max_failure_rate": ("bayes", st.sampled_from(["2", "-0.1", "1.5"]) | TEXT),
    "strategy": ("bayes", st.sampled_from(["tpe", "cmaes", "grid_search"])),
    "objective": ("bayes", TEXT | st.sampled_from(["[val_accuracy,nope]", "[val_accuracy,val_accuracy]"])),
    "constraints": ("bayes", st.sampled_from(["'[\"n_params<<5\"]'", "'[\"nope<=3\"]'", "'[\"n_params<=abc\"]'"])),
    "select": ("bayes", st.sampled_from(["val_accuracy", "n_params"])),  # one objective: nothing to select among
    "reference_point": ("bayes", st.sampled_from(["[1,2]", "3"])),
    "pruner": ("bayes", st.sampled_from(["hyperband", "successive"])),
    "report_every": ("bayes", NEGATIVE | TEXT),
    "ui_url": ("bayes", st.sampled_from(["localhost:5000", "ftp://host", "'http://'"]) | TEXT),
    "report": ("bayes", st.sampled_from(["maybe", "yes_no"])),  # an integer is a bool to OmegaConf (2 -> true)
    "register_model": ("bayes", st.sampled_from(["maybe", "yes_no"])),
    "explain_model": ("bayes", st.sampled_from(["maybe", "often"])),
    "model_alias": ("bayes", st.sampled_from(["latest", "'a b'", "v1"])),
    "model_name": ("bayes", st.just("''")),
    "check": ("bayes", st.sampled_from(["nope_pkg.check", "nope"])),  # a missing function: test_checks.py
    "resume": ("bayes", st.sampled_from(["deadbeef", "0123456789abcdef0123456789abcdef"])),
    "tracking_uri": ("bayes", st.sampled_from(["file:///tmp/mlruns"])),
    "experiment": ("bayes", st.just("''")),
    "n_initial": ("bayes", NEGATIVE | TEXT),
    "acquisition": ("bayes", st.sampled_from(["ei2", "pi"])),
    "ucb_beta": ("bayes", st.sampled_from(["0", "-1"]) | TEXT),
    "warping": ("bayes", st.sampled_from(["log", "boxcox"])),
    "sampler": ("random", st.sampled_from(["lhs", "halton"])),
    "population": ("evolution", st.sampled_from(["1", "0"]) | NEGATIVE | TEXT),
    "sample_size": ("evolution", st.sampled_from(["0"]) | NEGATIVE | TEXT),
    "grid_points": ("grid", st.sampled_from(["1", "0"]) | NEGATIVE | TEXT),
    "shuffle": ("grid", st.sampled_from(["maybe", "yes_no"])),
    # pruning options, passed to each trial's pruning.*: refused by the trial's checks on the sweep's edges
    "n_startup_trials": ("bayes", NEGATIVE), "n_warmup_steps": ("bayes", NEGATIVE),
    "min_resource": ("bayes", st.just("0") | NEGATIVE), "reduction_factor": ("bayes", st.sampled_from(["0", "1"])),
    "min_early_stopping_rate": ("bayes", NEGATIVE),
    # the space searched here: optimizer.lr and model.hidden_dim (plan_error)
    "conditions": ("bayes", st.sampled_from(["{nope:'optimizer.lr>0.01'}", "{model.hidden_dim:'optimizer.lr>5'}",
                                             "{model.hidden_dim:'depth>=2'}", "{model.hidden_dim:'optimizer.lr~2'}",
                                             "{model.hidden_dim:'optimizer.lr>0.01',optimizer.lr:'model.hidden_dim=16'}"])),
}
ADDED = {"conditions": "+"}  # a mapping the command line adds to, as the README writes it
SWEEPER_FREE = {"_target_", "name", "params", "default_params"}  # any value is valid, or not set from a command
SETTINGS = settings(max_examples=3, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.filter_too_much])


def leaves(node, prefix: str = "") -> list[str]:
    out = []
    for key, value in node.items():
        out += leaves(value, f"{prefix}{key}.") if isinstance(value, dict) else [f"{prefix}{key}"]
    return out


def test_every_key_has_bad_values(compose_cfg):
    from dataclasses import fields

    from omegaconf import OmegaConf

    from hydra_plugins.pipeline_sweeper.config import SweeperConf

    keys = set(leaves(OmegaConf.to_container(compose_cfg([]), resolve=False)))
    assert keys - NOT_SET_BY_USERS == set(BAD), sorted((keys - NOT_SET_BY_USERS) ^ set(BAD))
    options = {f.name for f in fields(SweeperConf)} - {"_target_"}
    assert options - SWEEPER_FREE == set(SWEEPER_BAD), sorted((options - SWEEPER_FREE) ^ set(SWEEPER_BAD))


def one_line_naming(message: str, key: str, value: str) -> None:
    """The message is one line that names the key (or, for a constructor argument, its entry), the value or the
    words of its cause, and what was expected."""
    assert "\n" not in message.strip(), message
    entry = key.split(".")[0]
    assert key in message or f"{entry}._target_" in message or f"{entry}=" in message, (key, message)
    assert "expected" in message.lower(), message
    shown = value.strip("'\"{}")
    assert shown in message or len(shown) < 2 or "_target_" in message or key in message, (value, message)


# -- in this process: each key where it is refused ---------------------------------------------------------
@pytest.mark.parametrize("key", sorted(BAD))
@SETTINGS
@given(data=st.data())
def test_a_bad_config_value_is_refused_before_any_run(compose_cfg, key, data):
    """``check`` is what the sweep runs on its edges before the first trial (and a trial before its run); Hydra's
    own composition refuses what cannot be merged (``train.py`` says it in one line: ``pipeline.cli``)."""
    from hydra.errors import HydraException

    from pipeline.cli import one_line
    from pipeline.training import checks

    value = data.draw(BAD[key])
    override = f"{key}={value}" if key in ("loss",) or OmegaConf_has(compose_cfg, key) else f"+{key}={value}"
    try:
        cfg = compose_cfg([override])
    except HydraException as e:
        message = one_line(e)
    else:
        if key == "tracking.uri":
            from pipeline.tracking.store import check_reachable, resolve_tracking_uri

            with pytest.raises(TrackingError) as e:
                check_reachable(resolve_tracking_uri(cfg.tracking.uri), timeout=1.0)
            message = str(e.value)
        else:
            with pytest.raises((ConfigError, DataError)) as e:
                checks.check(cfg)
            message = str(e.value)
    one_line_naming(message, key, value)


def OmegaConf_has(compose_cfg, key: str) -> bool:  # noqa: N802 - reads as what it asks
    from omegaconf import OmegaConf

    return OmegaConf.select(compose_cfg([]), key, default="__missing__") != "__missing__"


@pytest.mark.parametrize("key", sorted(SWEEPER_BAD))
@SETTINGS
@given(data=st.data())
def test_a_bad_sweeper_option_is_refused_when_the_sweep_is_planned(tmp_path, key, data):
    """Composed with the project's config as ``train.py -m`` composes it, then planned as the sweeper plans it."""
    strategy, bad = SWEEPER_BAD[key]
    value = data.draw(bad)
    message = plan_error(tmp_path, strategy, key, value)
    assert message is not None, f"hydra.sweeper.{key}={value} was accepted"
    one_line_naming(message, f"hydra.sweeper.{key}", value)


def plan_error(tmp_path, strategy: str, key: str, value: str) -> str | None:
    """The one line that refuses ``hydra.sweeper.<key>=<value>`` before any trial, or None when it was taken."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf import OmegaConf

    from hydra_plugins.pipeline_sweeper._checks import Checker
    from hydra_plugins.pipeline_sweeper._optimizer import make_sweep_optimizer
    from hydra_plugins.pipeline_sweeper._plan import Command, build_plan
    from hydra_plugins.pipeline_sweeper._store import sweep_store
    from pipeline.cli import one_line
    from tests.conftest import ROOT

    store = f"sqlite:///{tmp_path / 'plan.db'}"
    own = "null" if key == "tracking_uri" else store  # the sweeper's tracking_uri serves apps that name no store
    try:
        with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
            option = f"{ADDED.get(key, '')}hydra.sweeper.{key}={value}"
            cfg = compose("config", overrides=[f"hydra/sweeper={strategy}", option,
                                                f"tracking.uri={own}"], return_hydra_config=True)
        conf = OmegaConf.to_container(cfg.hydra.sweeper, resolve=True)
        uri, _ = sweep_store(conf, cfg)
        searched = {"optimizer.lr": "interval(0.001, 0.1)", "model.hidden_dim": "16,32"}
        _, plan = make_sweep_optimizer(build_plan(conf, cfg, Command(searched, [], "python train.py -m", "train.py"),
                                                  uri))
        if key == "check":  # the checker's own process says whether it can run (the sweeper imports no app code)
            checker = Checker.start(conf)
            checker.send([])
            checker.result(plan)
    except HydraException as e:
        return one_line(e)
    except (ValueError, TrackingError) as e:
        return str(e)
    return None


# -- end to end: typed as a user types it -----------------------------------------------------------------------
SAMPLED = [(k, s) for k, s in BAD.items()] + [(f"hydra.sweeper.{k}", s) for k, (_, s) in SWEEPER_BAD.items()
                                              if k not in ("resume", "tracking_uri")]  # apply to other stores


@pytest.fixture
def store(tmp_path):
    """A fresh store path per hypothesis example (fixtures are shared by a test's examples)."""
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    return lambda: tmp_path / f"{uuid.uuid4().hex}.db"


@pytest.mark.slow
@settings(max_examples=24, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=st.sampled_from(SAMPLED), data=st.data())
def test_a_bad_value_on_the_command_line_ends_the_sweep_before_it_starts(store, tmp_path, capfd, case, data):
    key, bad = case
    value = data.draw(bad)
    assume(key != "tracking.uri")  # names another store: this test's own store would not be the one to look at
    path = store()
    prefix = "+" if key in ("loss", "hydra.sweeper.conditions") else ""
    option = key.removeprefix("hydra.sweeper.")
    strategy = [f"hydra/sweeper={SWEEPER_BAD[option][0]}"] if option in SWEEPER_BAD else []  # the option's own
    if strategy == ["hydra/sweeper=grid"]:
        strategy.append("optimizer.lr=0.01,0.1")  # a grid names its grid
    code, out = run_train_in_process(["-m", *SWEEP_FAST, f"tracking.uri=sqlite:///{path}",
                                      f"hydra.sweep.dir={tmp_path / 'sweep'}", "hydra.sweeper.n_trials=2",
                                      *strategy, f"{prefix}{key}={value}"], capfd)
    lines = [line for line in out.splitlines() if line.strip()]
    assert code == 2, out[-3000:]
    assert 0 < len(lines) <= 2 and "Traceback" not in out, out[-3000:]
    one_line_naming(re.sub(r"^\[[^]]*\]\[HYDRA\] ", "", lines[-1]), key, value)
    assert not (path.exists() and mlflow_runs(f"sqlite:///{path}"))  # nothing written: no trial, no parent


# -- malformed sweep grammar ------------------------------------------------------------------------------------
TOKENS = ["interval", "choice", "range", "tag", "log", "int", "(", ")", ",", "=", "[", "]", "{", "}", ":", "'",
          "-1", "0", "1e-3", "abc", " ", "nan", "inf", "null", "$", "\\"]
grammar = st.lists(st.sampled_from(TOKENS), min_size=1, max_size=8).map("".join)


def is_valid_sweep(text: str) -> bool:
    try:
        parse_param("optimizer.lr", text)
    except Exception:
        return False
    return True


@pytest.mark.slow
@settings(max_examples=10, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much])
@given(expr=grammar)
def test_malformed_sweep_grammar(store, tmp_path, capfd, expr):
    assume(not is_valid_sweep(expr))  # well-formed grammar: the other tests cover bad values
    path = store()
    code, out = run_train_in_process(["-m", *SWEEP_FAST, f"tracking.uri=sqlite:///{path}",
                                      f"hydra.sweep.dir={tmp_path / 'sweep'}", "hydra.sweeper.n_trials=3",
                                      f"optimizer.lr={expr}"], capfd)
    assert code == 2 and "Traceback" not in out, out[-2000:]
    assert "optimizer.lr" in out or expr.strip() in out, out[-2000:]
    assert not (path.exists() and mlflow_runs(f"sqlite:///{path}"))


GROUPS = ["model", "optimizer", "data", "regularization", "scheduler", "hydra/sweeper"]


@pytest.mark.slow
@settings(max_examples=6, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(group=st.sampled_from(GROUPS), choice=st.text(alphabet="abcxyz_-0123456789", min_size=1, max_size=8))
def test_unknown_config_choices(store, tmp_path, capfd, group, choice):
    path = store()
    code, out = run_train_in_process(["-m", *SWEEP_FAST, f"tracking.uri=sqlite:///{path}",
                                      f"hydra.sweep.dir={tmp_path / 'sweep'}", f"{group}={choice}"], capfd)
    assert code == 2 and "Traceback" not in out and choice in out, out[-2000:]
    assert not (path.exists() and mlflow_runs(f"sqlite:///{path}"))


# Sweep values a trial would reject, inside (quoted) grammar: caught when the sweep is planned, before any run.
RANGES = {"optimizer.lr": (lambda v: v > 0, False), "regularization.dropout": (lambda v: 0 <= v < 1, False),
          "regularization.weight_decay": (lambda v: v >= 0, False), "trainer.batch_size": (lambda v: v >= 1, True),
          "model.hidden_dim": (lambda v: v >= 1, True), "trainer.epochs": (lambda v: v >= 1, True)}
bounds = st.sampled_from([-5, -1, 0, 1, 2, 3, 64, 0.5, 0.99, 1.5])


@pytest.mark.slow
@settings(max_examples=10, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much])
@given(key=st.sampled_from(sorted(RANGES)), low=bounds, high=bounds, quote=st.sampled_from(["", "'", '"']),
       form=st.sampled_from(["interval", "choice"]))
def test_bad_sweep_values_stop_before_the_first_trial(store, tmp_path, capfd, key, low, high, quote, form):
    ok, integer = RANGES[key]
    low, high = sorted((int(low), int(high)) if integer else (low, high))
    assume(low != high and not (ok(low) and ok(high)))  # a valid space: the sweep tests run those
    inner = f"interval({low},{high})" if form == "interval" else f"choice({high},{low})"
    expr = f"int({inner})" if integer and form == "interval" else inner
    path = store()
    base = [o for o in SWEEP_FAST if not o.startswith(key + "=")]  # a fixed value would take the key's place
    code, out = run_train_in_process(["-m", *base, f"tracking.uri=sqlite:///{path}",
                                      f"hydra.sweep.dir={tmp_path / 'sweep'}", "hydra.sweeper.n_trials=2",
                                      f"{key}={quote}{expr}{quote}"], capfd)
    assert code == 2, out[-2000:]
    assert "Traceback" not in out and key in out.strip().splitlines()[-1], out[-2000:]
    assert not (path.exists() and mlflow_runs(f"sqlite:///{path}"))  # nothing written: no trial, no parent
