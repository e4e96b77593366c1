"""Conditions inferred from config groups (``_conditional``) on the project's conf/, the structure presets planned
as the sweeper plans them, and a conditional sweep end to end."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
import yaml
from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra._internal.utils import create_config_search_path
from hydra.types import RunMode
from omegaconf import OmegaConf

from hydra_plugins.pipeline_sweeper._compose import ComposeCache
from hydra_plugins.pipeline_sweeper._conditional import with_group_conditions
from hydra_plugins.pipeline_sweeper._options import parse_arguments
from hydra_plugins.pipeline_sweeper._plan import Command, build_plan
from tests.conftest import ROOT, SWEEP_FAST, run_train_in_process, sweep_runs

CONF = ROOT / "conf"


def planned(tmp_path: Path, overrides: list[str], space: dict[str, str] | None = None):
    """The plan ``python train.py -m OVERRIDES`` would run, with group conditions inferred."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    loader = ComposeCache(ConfigLoaderImpl(config_search_path=create_config_search_path(str(CONF))))
    master = loader.load_configuration("config", [*overrides, f"tracking.uri=sqlite:///{tmp_path / 'p.db'}"],
                                       RunMode.MULTIRUN)
    conf = OmegaConf.to_container(master.hydra.sweeper, resolve=True)
    parsed, fixed = parse_arguments(OverridesParser.create(config_loader=loader).parse_overrides(
        [f"{k}={v}" for k, v in (space or {}).items()]))
    plan = build_plan(conf, master, Command(parsed, fixed, "python train.py -m", "train.py"),
                      f"sqlite:///{tmp_path / 'p.db'}")
    return with_group_conditions(plan, loader, master)


def test_a_family_search_searches_each_familys_own_keys_only_there(tmp_path):
    plan = planned(tmp_path, ["+sweep=families"])
    assert plan.space.conditions_text() == {
        "model.hidden_dim": "model in [mlp, cnn]", "model.num_layers": "model in [mlp]",
        "model.batch_norm": "model in [mlp]", "model.num_conv_layers": "model in [cnn]",
        "model.channels": "model in [cnn]", "model.kernel_size": "model in [cnn]", "model.depth": "model in [net]"}
    net = plan.space.decode(plan.space.encode([{"model": "net", "model.depth": 2, "optimizer.lr": 0.01,
                                                "regularization.dropout": 0.1}]))[0]
    assert set(net) == {"model", "model.depth", "optimizer.lr", "regularization.dropout"}
    assert plan.name.endswith("digits-mlp|cnn|net") and plan.strategy == "bayes"


def test_the_architecture_preset_searches_a_layer_only_where_the_depth_reaches_it(tmp_path):
    plan = planned(tmp_path, ["+sweep=architecture"])
    assert plan.strategy == "evolution" and plan.options == {"population": 16, "sample_size": 4}
    shallow = {"model.depth": 1, **{f"model.layer1.{k}": v for k, v in
                                     {"width": 16, "kernel": 3, "activation": "relu", "norm": "batch",
                                      "skip": False}.items()}, "optimizer.lr": 0.01}
    assert set(plan.space.active(shallow)) == set(shallow)
    deep = plan.space.active({**shallow, "model.depth": 3})
    assert {f"model.layer{i}.width" for i in (1, 2, 3)} <= set(deep) and "model.layer4.width" not in deep
    assert len(deep) == 1 + 3 * 5 + 1


def test_explicit_and_inferred_conditions_together(tmp_path):
    explicit = "+hydra.sweeper.conditions={model.hidden_dim:'model.num_layers>=1'}"
    plan = planned(tmp_path, ["hydra/sweeper=random", explicit],
                   {"model": "choice(mlp,cnn)", "model.num_layers": "range(0,3)", "model.hidden_dim": "choice(16,32)"})
    # hidden_dim: both models have it (no inferred condition); the MLP's layers make it matter
    assert plan.space.conditions_text() == {"model.hidden_dim": "model.num_layers>=1",
                                            "model.num_layers": "model in [mlp]"}
    cnn = plan.space.decode(plan.space.encode([{"model": "cnn", "model.hidden_dim": 16}]))[0]
    assert cnn == {"model": "cnn"}  # num_layers is inactive, and so its child hidden_dim


@pytest.mark.slow
def test_a_conditional_sweep_records_active_parameters_only(tmp_path, store_template, capfd):
    from tests.conftest import fresh_store

    uri = fresh_store(store_template, tmp_path / "store")
    code, out = run_train_in_process(
        ["-m", *SWEEP_FAST, f"tracking.uri={uri}", f"hydra.sweep.dir={tmp_path / 'sweep'}", "hydra/sweeper=grid",
         "model=choice(mlp,cnn)", "model.num_layers=1,2", "model.channels=choice(4,8)", "hydra.sweeper.report=true",
         "+hydra.sweeper.conditions={model.channels:'model=cnn'}"], capfd)
    assert code == 0, out[-3000:]
    parent, children = sweep_runs(uri)
    assert len(children) == 4  # mlp x 2 layers, cnn x 2 channels: no trial differs only in an inactive value
    for c in children:
        launched = json.loads(c.data.tags["trial.params"])
        mlp = launched["model"] == "mlp"
        assert set(launched) == ({"model", "model.num_layers"} if mlp else {"model", "model.channels"})
        assert ("model.channels" in c.data.params) != mlp  # the MLP's config has no channels at all
    assert json.loads(parent.data.tags["best.params"]) == yaml.safe_load(
        (tmp_path / "sweep" / "optimization_results.yaml").read_text())["best_params"]
    results = yaml.safe_load((tmp_path / "sweep" / "optimization_results.yaml").read_text())
    best = results["best_params"]
    assert set(best) == ({"model", "model.num_layers"} if best["model"] == "mlp" else {"model", "model.channels"})
    from mlflow.tracking import MlflowClient

    table = MlflowClient(uri).download_artifacts(parent.info.run_id, "trials.csv", str(tmp_path))
    rows = list(csv.DictReader(io.StringIO(Path(table).read_text())))
    assert all((r["model.channels"] == "") == (r["model"] == "mlp") for r in rows)
    assert "Searched only where their config group has them: model.num_layers if model in [mlp]" in out


@pytest.mark.slow
def test_feature_engineering_is_a_searched_group_with_its_own_parameters(tmp_path, store_template, capfd):
    from tests.conftest import fresh_store

    uri = fresh_store(store_template, tmp_path / "store")
    code, out = run_train_in_process(
        ["-m", *SWEEP_FAST, f"tracking.uri={uri}", f"hydra.sweep.dir={tmp_path / 'sweep'}", "hydra/sweeper=grid",
         "preprocess=none,quantile,pca", "preprocess.n_components=4,12"], capfd)
    assert code == 0, out[-3000:]
    _, children = sweep_runs(uri)
    launched = sorted(json.dumps(json.loads(c.data.tags["trial.params"]), sort_keys=True) for c in children)
    assert launched == sorted(json.dumps(p, sort_keys=True) for p in [
        {"preprocess": "none"}, {"preprocess": "quantile"}, {"preprocess": "pca", "preprocess.n_components": 4},
        {"preprocess": "pca", "preprocess.n_components": 12}])
    assert all(c.info.status == "FINISHED" for c in children)
    pca = [c for c in children if c.data.params.get("preprocess._target_", "").endswith(".pca")]
    assert sorted(int(c.data.params["preprocess.n_components"]) for c in pca) == [4, 12]


@pytest.mark.slow
def test_an_evolution_sweep_resumes_from_mlflow_and_records_each_childs_parent(tmp_path, store_template):
    from tests.conftest import fresh_store
    from tests.hydra_plugins.test_faults import children, kill, popen_train, wait_for

    uri = fresh_store(store_template, tmp_path / "store")
    base = ["-m", *SWEEP_FAST, f"tracking.uri={uri}", "hydra/sweeper=evolution", "hydra.sweeper.n_trials=7",
            "hydra.sweeper.population=3", "hydra.sweeper.sample_size=2", "model=choice(mlp,cnn)",
            "model.channels=choice(4,8)", "model.num_layers=choice(1,2)", "optimizer.lr=tag(log, interval(1e-3, 1e-1))"]
    proc = popen_train(base, tmp_path)
    wait_for(lambda: sum(c.info.status == "FINISHED" for c in children(uri)) >= 4, proc)
    kill(proc)
    parent = sweep_runs(uri)[0]
    proc = popen_train([*base, f"hydra.sweeper.resume={parent.info.run_id}"], tmp_path)
    assert proc.wait(timeout=600) == 0, proc.stderr.read()[-3000:]
    parent, runs = sweep_runs(uri)
    finished = [c for c in runs if c.info.status == "FINISHED"]
    assert parent.info.status == "FINISHED" and len(finished) == 7
    names = {c.info.run_name.split(" ")[0] for c in runs}
    lineage = {c.info.run_name.split(" ")[0]: c.data.tags.get("trial.mutated_from") for c in finished}
    assert all(p is None or p in names for p in lineage.values()), lineage
    assert sum(p is not None for p in lineage.values()) >= 3  # past the first population, children of told trials
    for c in finished:  # a mutation keeps the trial's parameters active ones only
        launched = json.loads(c.data.tags["trial.params"])
        assert ("model.channels" in launched) == (launched["model"] == "cnn")
