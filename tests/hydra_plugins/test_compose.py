"""Trial configs composed once per shape (``_compose``) equal Hydra's own, config by config, on this project's
conf/ and on a small app with nested groups, packages and interpolations; errors are Hydra's own."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra._internal.utils import create_config_search_path
from hydra.types import RunMode
from omegaconf import OmegaConf

from hydra_plugins.pipeline_sweeper._compose import ComposeCache

CONF = Path(__file__).resolve().parents[2] / "conf"


def loader_for(conf_dir: Path) -> ConfigLoaderImpl:
    return ConfigLoaderImpl(config_search_path=create_config_search_path(str(conf_dir)))


def as_data(cfg):
    return OmegaConf.to_container(cfg, resolve=False), OmegaConf.is_struct(cfg), OmegaConf.is_readonly(cfg.hydra)


def outcome(loader, master, overrides):
    try:
        return "ok", as_data(loader.load_sweep_config(master, overrides))
    except Exception as e:  # noqa: BLE001 - the error is what is compared
        return type(e).__name__, str(e)


PROJECT_JOBS = [
    ["optimizer=sgd", "optimizer.lr=0.06", "model.hidden_dim=87", "model.num_layers=2", "regularization.dropout=0.07",
     "tracking.trial_number=3", "tracking.parent_run_id='abc'"],
    ["optimizer=adamw", "optimizer.lr=0.0002", "model.hidden_dim=190", "tracking.trial_number=4"],
    ["optimizer=sgd", "optimizer.lr=0.01", "model.hidden_dim=12", "model.num_layers=1", "regularization.dropout=0.5",
     "tracking.trial_number=5", "tracking.parent_run_id='abc'"],  # the first job's shape again, other values
    ["model=cnn", "optimizer.lr=0.001", "+extra.note=hello", "trainer.epochs=3"],
    ["optimizer.lr=0.001", "~trainer.num_workers", "++trainer.new_key=[1,2]", "hydra.job.name=renamed"],
    ["optimizer.lr=${trainer.epochs}", "trainer.batch_size=32"],
    ["optimizer.nonexistent=1"],  # Hydra's error
    ["optimizer=nonexistent"],
    ["optimizer.lr=0.1,0.2"],  # a sweep override inside a job: Hydra's error
    ["+trainer.epochs=4"],  # adding a key that exists: Hydra's error
]


@pytest.mark.parametrize("sweeper", ["random", "bayes"])
def test_project_jobs_compose_as_hydra_composes_them(sweeper):
    fresh, cached = loader_for(CONF), ComposeCache(loader_for(CONF))
    master = fresh.load_configuration("config", [f"hydra/sweeper={sweeper}", "hydra/launcher=local_parallel",
                                                 "hydra.sweep.dir=/tmp/somewhere"], RunMode.MULTIRUN)
    for job in PROJECT_JOBS * 2:  # twice: the second round is served from the cache
        assert outcome(cached, master, job) == outcome(fresh, master, job), job
    # 5 shapes (sgd, adamw, cnn, the hydra.job.name one, none) and the 4 errors, composed by Hydra twice each
    assert cached.hydra_composes == 5 + 2 * 4, cached.hydra_composes


def test_each_job_gets_its_own_copy():
    cached = ComposeCache(loader_for(CONF))
    master = cached.load_configuration("config", ["hydra/sweeper=random"], RunMode.MULTIRUN)
    first = cached.load_sweep_config(master, ["optimizer.lr=0.5"])
    first.hydra.job.id = "mutated by a launcher"
    first.optimizer.lr = 9.0
    second = cached.load_sweep_config(master, ["trainer.epochs=2"])
    assert OmegaConf.is_missing(second.hydra.job, "id") and second.optimizer.lr != 9.0
    assert list(second.hydra.overrides.task) == ["trainer.epochs=2"] and second.hydra.job.override_dirname == \
        "trainer.epochs=2"


def test_a_foreign_app_with_nested_groups_packages_and_env_copy(tmp_path, monkeypatch):
    (tmp_path / "db" / "engine").mkdir(parents=True)
    (tmp_path / "server").mkdir()
    (tmp_path / "config.yaml").write_text(
        "defaults:\n  - db: mysql\n  - server@web: apache\n  - _self_\n"
        "lr: 0.1\nname: run-${lr}\nhydra:\n  job:\n    env_copy: [APP_TOKEN_DIR]\n"
        "    config:\n      override_dirname:\n        exclude_keys: [seed]\n")
    (tmp_path / "db" / "mysql.yaml").write_text(
        "defaults:\n  - engine: inno\n  - _self_\nhost: localhost\nport: 3306\n")
    (tmp_path / "db" / "pg.yaml").write_text("host: pg\nport: 5432\n")
    (tmp_path / "db" / "engine" / "inno.yaml").write_text("pool: 4\n")
    (tmp_path / "db" / "engine" / "myisam.yaml").write_text("pool: 1\n")
    (tmp_path / "server" / "apache.yaml").write_text("port: 80\n")
    (tmp_path / "server" / "nginx.yaml").write_text("port: 8080\n")
    monkeypatch.setenv("APP_TOKEN_DIR", "/srv/tokens")
    fresh, cached = loader_for(tmp_path), ComposeCache(loader_for(tmp_path))
    master = fresh.load_configuration("config", ["hydra.sweep.dir=/tmp/x"], RunMode.MULTIRUN)
    jobs = [["lr=0.2", "+seed=1"], ["db=pg", "lr=0.3", "db.port=1"], ["db/engine=myisam", "db.engine.pool=9"],
            ["server@web=nginx", "web.port=1"], ["lr=0.4", "+seed=2"], ["db.nothing=1"], ["~db", "lr=1"],
            ["+server@extra=nginx", "lr=2"], ["lr='quoted value'", "name=x"]]
    for job in jobs * 2:
        assert outcome(cached, master, job) == outcome(fresh, master, job), job
    assert cached.hydra_composes == 6 + 2 * 1, cached.hydra_composes  # 6 shapes, 1 error


def test_a_worker_keeps_its_shapes_across_jobs_and_hears_no_schema_warning(tmp_path):
    """A launcher that composes in its workers (joblib) ships a copy per job: copies in one process share."""
    import warnings

    cached = ComposeCache(loader_for(CONF))
    master = cached.load_configuration("config", ["hydra/sweeper=random", f"hydra.sweep.dir={tmp_path}"],
                                       RunMode.MULTIRUN)
    state = cached.__getstate__()  # what pickling ships (Hydra's loader pickles as it always does)
    assert set(state) == {"loader", "token"} and state["loader"] is cached.loader
    first, second, other_sweep = (ComposeCache.__new__(ComposeCache) for _ in range(3))
    first.__setstate__(state)
    second.__setstate__(state)
    other_sweep.__setstate__({**state, "token": ComposeCache(cached.loader).token})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        jobs = [first.load_sweep_config(master, ["optimizer.lr=0.5"]), second.load_sweep_config(master,
                                                                                                   ["optimizer.lr=0.7"])]
    assert first.hydra_composes + second.hydra_composes == 1  # the second job's shape came from the first's
    other_sweep.load_sweep_config(master, ["optimizer.lr=0.5"])
    assert other_sweep.hydra_composes == 1  # another sweep in this process composes afresh (its files may differ)
    assert not [w for w in caught if "validated against ConfigStore schema" in str(w.message)]
    fresh = loader_for(CONF)
    assert [as_data(j) for j in jobs] == [as_data(fresh.load_sweep_config(master, [o])) for o in
                                          ("optimizer.lr=0.5", "optimizer.lr=0.7")]


def test_groups_from_the_apps_searchpath_are_groups(tmp_path):
    """An app that adds config folders (``hydra.searchpath`` in its main config or on the command line): a group
    that exists only there is a group, composed by Hydra, not a key set to a string."""
    extra = tmp_path / "extra"
    (extra / "db").mkdir(parents=True)
    (extra / "db" / "mysql.yaml").write_text("host: mysql\nport: 3306\n")
    (extra / "db" / "pg.yaml").write_text("host: pg\nport: 5432\n")
    (extra / "cache").mkdir()
    (extra / "cache" / "redis.yaml").write_text("ttl: 5\n")
    app = tmp_path / "app"
    app.mkdir()
    (app / "config.yaml").write_text(f"defaults:\n  - db: mysql\n  - _self_\nlr: 0.1\n"
                                     f"hydra:\n  searchpath: [file://{extra}]\n")
    fresh, cached = loader_for(app), ComposeCache(loader_for(app))
    master = fresh.load_configuration("config", ["hydra.sweep.dir=/tmp/x"], RunMode.MULTIRUN)
    jobs = [["db=pg", "lr=0.2"], ["db=mysql", "db.port=1"], ["+cache=redis", "lr=0.3"], ["db=pg", "lr=0.4"]]
    for job in jobs:
        assert outcome(cached, master, job) == outcome(fresh, master, job), job
    assert cached.load_sweep_config(master, ["db=pg", "lr=0.5"]).db.host == "pg"
    assert cached.hydra_composes == 3  # three shapes: db=pg, db=mysql, +cache=redis
