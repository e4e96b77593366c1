"""SweepPlan: how many trials each launch holds, per strategy and option."""

from __future__ import annotations

import pytest

from hydra_plugins.pipeline_sweeper._options import batch_size
from hydra_plugins.pipeline_sweeper._plan import Command, SweepPlan, build_plan
from hydra_plugins.pipeline_sweeper._store import sweep_store
from pipeline.search import SearchSpace


def planned(conf: dict, config, space: dict, fixed: list, script: str) -> SweepPlan:
    """``build_plan`` as the sweeper calls it: the store decided first, then the command line's plan."""
    uri, _ = sweep_store(conf, config)
    return build_plan(conf, config, Command(space, fixed, "cmd", script), uri)


def plan(strategy: str, n_jobs: int, batch_size: int | None = None) -> SweepPlan:
    space = SearchSpace.from_grammar({"optimizer.lr": "interval(0.001, 0.1)"})
    return SweepPlan(strategy=strategy, space=space, fixed=[], n_trials=20, n_jobs=n_jobs, direction="maximize",
                     command="python train.py -m", batch_size=batch_size)


@pytest.mark.parametrize("strategy,n_jobs,remaining,expected", [
    ("bayes", 1, 20, 1), ("bayes", 2, 20, 2), ("bayes", 2, 1, 1),   # one launch at a time: n_jobs trials
    ("random", 1, 20, 1), ("random", 2, 20, 2), ("grid", 2, 1, 1),   # (in flight, each trial is a launch)
])
def test_default_batch_is_n_jobs_for_every_strategy(strategy, n_jobs, remaining, expected):
    assert plan(strategy, n_jobs).batch(remaining) == expected


def test_batch_size_option_wins_and_is_checked():
    assert plan("bayes", 2, batch_size=6).batch(20) == 6 and plan("random", 2, batch_size=2).batch(20) == 2
    assert batch_size({}) is None and batch_size({"batch_size": 3}) == 3
    for bad in (0, -1, 2.5, "4"):
        with pytest.raises(ValueError, match=r"hydra.sweeper.batch_size=.* expected an integer >= 1"):
            batch_size({"batch_size": bad})


# -- building a plan, and resuming one ------------------------------------------------------------------
def task_config(hydra_overrides: list[str] = (), metric: str | None = "val_accuracy", uri: str | None = None):
    from omegaconf import OmegaConf

    cfg = {"hydra": {"overrides": {"hydra": list(hydra_overrides)}}}
    if metric is not None:
        cfg["cv"] = {"metric": metric}
    if uri is not None:
        cfg["tracking"] = {"uri": uri, "experiment": "plans"}
    return OmegaConf.create(cfg)


def test_the_optimizers_defaults_apply_unless_the_user_sets_a_value():
    from pipeline.search import make_optimizer
    from pipeline.search.acquisition import DEFAULT_UCB_BETA

    unset = planned({"strategy": "bayes"}, task_config(), {"x": "interval(0, 1)"}, [], "app.py")
    assert unset.options == {} and unset.n_trials == 20 and unset.seed == 0 and unset.max_failure_rate == 0.5
    assert make_optimizer("bayes", unset.space, **unset.optimizer_options()).ucb_beta == DEFAULT_UCB_BETA
    given = planned({"strategy": "bayes", "ucb_beta": 1.5, "acquisition": None}, task_config(),
                       {"x": "interval(0, 1)"}, [], "app.py")
    assert given.options == {"ucb_beta": 1.5}
    assert make_optimizer("bayes", given.space, **given.optimizer_options()).ucb_beta == 1.5


@pytest.mark.parametrize("direction, metric, expected", [(None, "val_accuracy", "maximize"), ("auto", "val_loss",
                                                                                              "minimize"),
                                                         ("minimize", "val_accuracy", "minimize"), (None, None,
                                                                                                    "minimize")])
def test_direction_comes_from_the_objective(direction, metric, expected):
    plan = planned({"strategy": "random", "direction": direction}, task_config(metric=metric), {"x": "1,2"}, [],
                   "app.py")
    assert plan.direction == expected


def test_unknown_metric_or_direction_is_refused_before_anything_runs():
    with pytest.raises(ValueError, match="cv.metric='val_auc'"):
        planned({"strategy": "random"}, task_config(metric="val_auc"), {"x": "1,2"}, [], "app.py")
    with pytest.raises(ValueError, match="hydra.sweeper.direction='up'"):
        planned({"strategy": "random", "direction": "up"}, task_config(), {"x": "1,2"}, [], "app.py")


def test_best_command_is_shell_quoted():
    p = plan("random", 1).replace(fixed=["data.root=/my data"])
    cmd = p.best_command({"model.activation": "relu", "tag": "a b"})
    assert cmd == "python train.py 'data.root=/my data' model.activation=relu 'tag='\"'\"'a b'\"'\"''"


@pytest.fixture
def parent(tracking_uri):
    """A bayes sweep's parent run as the sweeper records it: seed 3, 7 trials, ucb_beta set."""
    from pipeline.tracking.sweep_run import SweepRun

    recorded = planned({"strategy": "bayes", "seed": 3, "n_trials": 7, "ucb_beta": 1.5},
                          task_config(uri=tracking_uri), {"x": "interval(0, 1)", "k": "a,b"}, ["trainer.epochs=2"],
                       "train.py")
    run = SweepRun.create(tracking_uri, "plans", "bayes-sweep", recorded.recorded().encode(),
                          recorded.recorded().params(recorded.n_jobs))
    return tracking_uri, run.run_id


def resume(parent, conf=None, hydra_overrides=(), cli_space=None):
    uri, run_id = parent
    return planned({"strategy": "bayes", "resume": run_id, **(conf or {})}, task_config(hydra_overrides, uri=uri),
                      cli_space or {}, [], "train.py")


def test_a_resumed_sweep_takes_its_settings_from_the_parent(parent):
    p = resume(parent, {"n_jobs": 2, "batch_size": 4, "max_failure_rate": 0.9})
    assert (p.strategy, p.seed, p.n_trials, p.direction, p.options) == ("bayes", 3, 7, "maximize", {"ucb_beta": 1.5})
    assert p.fixed == ["trainer.epochs=2"] and p.space.names == ["x", "k"] and p.resume == parent[1]
    assert (p.n_jobs, p.batch_size, p.max_failure_rate) == (2, 4, 0.9)
    # the same values given again, and the default sweeper's strategy, are no contradiction
    assert resume(parent, {"seed": 3, "n_trials": 7, "ucb_beta": 1.5, "strategy": "random"},
                  cli_space={"k": "a,b", "x": "interval(0,1)"}).seed == 3


@pytest.mark.parametrize("conf, hydra_overrides, cli_space, named", [
    ({"seed": 4}, [], None, ["hydra.sweeper.seed=4", "seed=3"]),
    ({"n_trials": 9}, [], None, ["hydra.sweeper.n_trials=9", "n_trials=7"]),
    ({"ucb_beta": 2.0}, [], None, ["hydra.sweeper.ucb_beta=2.0", "ucb_beta=1.5"]),
    ({"acquisition": "ucb"}, [], None, ["hydra.sweeper.acquisition='ucb'", "acquisition unset"]),
    ({"direction": "minimize"}, [], None, ["direction='minimize'", "direction='maximize'"]),
    ({"strategy": "random"}, ["hydra/sweeper=random"], None, ["hydra.sweeper.strategy='random'", "strategy='bayes'"]),
    ({}, [], {"x": "interval(0, 2)"}, ["hydra.sweeper.params", "interval(0.0,2.0)", "interval(0.0,1.0)"]),
])
def test_a_contradicting_setting_on_resume_names_both_values(parent, conf, hydra_overrides, cli_space, named):
    with pytest.raises(ValueError) as e:
        resume(parent, conf, hydra_overrides, cli_space)
    assert all(n in str(e.value) for n in named), str(e.value)


def test_a_resumed_sweep_keeps_its_name_and_a_finished_one_is_left_as_it_is(parent):
    from mlflow.tracking import MlflowClient

    from hydra_plugins.pipeline_sweeper._plan import SweepFinished

    assert resume(parent).name == "bayes-sweep"
    MlflowClient(parent[0]).set_terminated(parent[1], "FINISHED")
    with pytest.raises(SweepFinished, match="'bayes-sweep'.*already finished its 7 trials"):
        resume(parent)


def test_resume_of_a_run_that_is_no_sweep_is_refused(tracking_uri):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    run_id = client.create_run(client.create_experiment("x")).info.run_id
    with pytest.raises(ValueError, match="is not the parent run"):
        planned({"resume": run_id}, task_config(uri=tracking_uri), {}, [], "train.py")
    with pytest.raises(ValueError, match="no such run"):
        planned({"resume": "0" * 32}, task_config(uri=tracking_uri), {}, [], "train.py")


def test_default_space_keys_the_config_lacks_are_left_out():
    from omegaconf import OmegaConf

    config = OmegaConf.create({"model": {"width": 8}, "optimizer": {"lr": 0.1}, "cv": {"metric": "val_loss"}})
    conf = {"strategy": "random", "default_params": {"model.hidden_dim": "16,32", "optimizer.lr": "interval(0.01, 0.1)",
                                                     "optimizer": "adam,sgd"}}
    plan = planned(conf, config, {}, [], "train.py")
    assert plan.space.names == ["optimizer.lr", "optimizer"]
    declared = planned({**conf, "params": {"model.hidden_dim": "16,32"}}, config, {}, [], "train.py")
    assert declared.space.names == ["model.hidden_dim"]  # what the user declares is used as given


def test_report_every_is_checked_when_the_sweep_is_planned():
    assert planned({"strategy": "random"}, task_config(), {"x": "1,2"}, [], "app.py").report_every == 60.0
    assert planned({"strategy": "random", "report_every": 5}, task_config(), {"x": "1,2"}, [],
                   "app.py").report_every == 5.0
    for bad in (-1, "soon", True, float("inf")):
        with pytest.raises(ValueError, match=r"hydra.sweeper.report_every=.* expected a number of seconds >= 0"):
            planned({"strategy": "random", "report_every": bad}, task_config(), {"x": "1,2"}, [], "app.py")


@pytest.mark.parametrize("conf, metric, itself, goal", [
    ({}, "val_accuracy", True, "maximizes val_accuracy (its cross-validated mean)"),
    ({"direction": "maximize", "objective": "accuracy"}, None, False,
     "maximizes 'accuracy' of the mapping the task returns"),
    ({}, None, False, "minimizes the value the task returns"),
])
def test_the_start_line_says_what_is_optimised_in_which_direction(conf, metric, itself, goal):
    from omegaconf import OmegaConf

    config = task_config(metric=metric)
    if itself:
        OmegaConf.update(config, "tracking", {"parent_run_id": None, "trial_number": None, "uri": None}, force_add=True)
    p = planned({"strategy": "random", **conf}, config, {"x": "1,2"}, [], "app.py")
    assert p.records_itself == itself and p.goal == goal


def test_the_best_command_of_a_plug_in_sweep_runs_from_any_folder(tmp_path, monkeypatch):
    from omegaconf import OmegaConf

    monkeypatch.setenv("PYTHONPATH", ".")
    config = task_config()
    OmegaConf.update(config, "hydra.searchpath", ["file://conf"], force_add=True)
    OmegaConf.update(config, "hydra.runtime.cwd", str(tmp_path), force_add=True)
    p = planned({"strategy": "random"}, config, {"x": "1,2"}, ["model=gru"], "/repo/train.py")
    assert p.best_command({"x": 2}) == (f"PYTHONPATH={tmp_path} python /repo/train.py model=gru x=2 "
                                        f"'hydra.searchpath=[file://{tmp_path}/conf]'")


# -- conditional spaces ---------------------------------------------------------------------------------------
LAYERS = {"n": "range(1,3)", "w2": "choice(16,32)", "act": "choice(relu,tanh)"}


def test_conditions_are_planned_recorded_and_resumed_as_given(tracking_uri):
    from pipeline.tracking.sweep_run import SweepRun

    p = planned({"strategy": "random", "conditions": {"w2": "n>=2"}}, task_config(uri=tracking_uri), LAYERS, [],
                "train.py")
    assert p.space.conditions_text() == {"w2": "n>=2"} and p.space.cardinality() == 2 * 1 * 2 + 2 * 1
    run = SweepRun.create(tracking_uri, "plans", "conditional", p.recorded().encode(), {})
    again = planned({"resume": run.run_id}, task_config(uri=tracking_uri), {}, [], "train.py")
    assert again.space.conditions_text() == {"w2": "n>=2"} and again.space == p.space
    with pytest.raises(ValueError, match=r"hydra.sweeper.conditions=.*'n>=3'.*'n>=2'"):
        planned({"resume": run.run_id, "conditions": {"w2": "n>=3"}}, task_config(uri=tracking_uri), {}, [],
                "train.py")


def test_a_condition_on_a_value_the_command_line_fixes():
    fixed = {k: v for k, v in LAYERS.items() if k != "n"}
    kept = planned({"conditions": {"w2": "n>=2"}}, task_config(), fixed, ["n=2"], "train.py")
    assert kept.space.conditions == {} and kept.space.names == ["w2", "act"]
    with pytest.raises(ValueError, match="w2 is never searched: n>=2 never holds, n is fixed to 1"):
        planned({"conditions": {"w2": "n>=2"}}, task_config(), fixed, ["n=1"], "train.py")


def test_an_option_of_another_strategy_is_refused():
    with pytest.raises(ValueError, match=r"hydra.sweeper.sampler='lhs' is an option of random, and this sweep's "
                                         r"strategy is bayes: expected hydra/sweeper=random"):
        planned({"strategy": "bayes", "sampler": "lhs"}, task_config(), {"x": "interval(0, 1)"}, [], "app.py")
    assert planned({"strategy": "random", "sampler": "uniform"}, task_config(), {"x": "interval(0, 1)"}, [],
                   "app.py").options == {"sampler": "uniform"}
