"""Launcher presets in ``conf/hydra/launcher/``: they compose where their plugin is installed, and sweep.

CI installs ``.[dev]`` only, which brings the joblib launcher: the Ray and SLURM (submitit) checks skip
there with their reason and run where the ``ray`` / ``slurm`` extras are installed (docs/launchers.md).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tests.conftest import ROOT, SWEEP_FAST, fresh_store, run_train, sweep_runs

PRESETS = ROOT / "conf" / "hydra" / "launcher"
PLUGIN_CONFIGS = {"basic", "joblib", "ray", "ray_aws", "submitit_local", "submitit_slurm"}


def _installed(*modules: str) -> bool:
    try:
        return all(importlib.util.find_spec(m) is not None for m in modules)
    except ModuleNotFoundError:  # a parent package is missing
        return False


HAS_JOBLIB = _installed("hydra_plugins.hydra_joblib_launcher")
HAS_RAY = _installed("ray", "hydra_plugins.hydra_ray_launcher")
HAS_SUBMITIT = _installed("submitit", "hydra_plugins.hydra_submitit_launcher")
NO_JOBLIB = "hydra-joblib-launcher is not installed (it comes with the dev extra)"
NO_RAY = 'ray / hydra-ray-launcher are not installed: pip install -e ".[dev,ray]" (docs/launchers.md)'
NO_SUBMITIT = 'submitit / hydra-submitit-launcher are not installed: pip install -e ".[dev,slurm]"'
needs_joblib = pytest.mark.skipif(not HAS_JOBLIB, reason=NO_JOBLIB)
needs_ray = pytest.mark.skipif(not HAS_RAY, reason=NO_RAY)
needs_submitit = pytest.mark.skipif(not HAS_SUBMITIT, reason=NO_SUBMITIT)


def hydra_launcher(preset: str, *overrides: str):
    """``hydra.launcher`` of the project's config composed with ``hydra/launcher=preset``."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=[f"hydra/launcher={preset}", *overrides], return_hydra_config=True)
    return cfg.hydra.launcher


# -- composition -------------------------------------------------------------------------------------
def test_presets_do_not_shadow_plugin_configs():
    """A conf/ file named like a plugin's node replaces it (conf/ is searched first) and cannot extend it."""
    names = {p.stem for p in PRESETS.glob("*.yaml")}
    assert {"local_parallel", "ray_cluster", "slurm"} <= names
    assert not names & PLUGIN_CONFIGS


@needs_joblib
def test_plain_joblib_keeps_the_plugin_defaults():
    assert hydra_launcher("joblib").n_jobs == -1


@needs_joblib
def test_local_parallel_composes():
    launcher = hydra_launcher("local_parallel")
    assert launcher._target_ == "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"
    assert (launcher.n_jobs, launcher.backend, launcher.prefer) == (2, "loky", "processes")
    assert hydra_launcher("local_parallel", "hydra.launcher.n_jobs=4").n_jobs == 4


@needs_ray
def test_ray_cluster_composes():
    launcher = hydra_launcher("ray_cluster")
    assert launcher._target_ == "hydra_plugins.hydra_ray_launcher.ray_launcher.RayLauncher"
    assert launcher.ray.init.address is None and launcher.ray.remote.num_cpus == 1
    assert "object_store_memory" in launcher.ray.init and launcher.ray.init.object_store_memory is None
    cluster = hydra_launcher("ray_cluster", "hydra.launcher.ray.init.address=ray://head:10001")
    assert cluster.ray.init.address == "ray://head:10001"


@needs_submitit
def test_slurm_composes():
    launcher = hydra_launcher("slurm", "hydra.launcher.partition=cpu")
    assert launcher._target_ == "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
    assert launcher.partition == "cpu"
    assert (launcher.timeout_min, launcher.cpus_per_task, launcher.mem_gb, launcher.array_parallelism) == (60, 1, 4, 8)


@pytest.mark.parametrize("preset, plugin_config, installed", [("ray_cluster", "ray", HAS_RAY),
                                                              ("slurm", "submitit_slurm", HAS_SUBMITIT)])
def test_missing_plugin_names_the_config_it_needs(preset, plugin_config, installed):
    if installed:
        pytest.skip(f"the plugin behind {preset} is installed")
    from hydra.errors import MissingConfigException

    with pytest.raises(MissingConfigException, match=f"hydra/launcher/{plugin_config}"):
        hydra_launcher(preset)


# -- sweeps through the presets ---------------------------------------------------------------------
def two_trial_sweep(template: Path, tmp_path: Path, *args: str, timeout: int = 600) -> str:
    """A 2-trial random sweep of tiny trials in one batch of 2; returns the store's URI."""
    uri = fresh_store(template, tmp_path / "store")
    proc = run_train(["-m", *SWEEP_FAST, f"tracking.uri={uri}", f"hydra.sweep.dir={tmp_path / 'sweep'}",
                      "hydra.sweeper.n_trials=2", "hydra.sweeper.n_jobs=2", "trainer.num_threads=1", *args],
                     cwd=tmp_path, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return uri


def assert_two_finished_trials(uri: str) -> None:
    parent, children = sweep_runs(uri)
    assert parent.info.status == "FINISHED"
    assert [c.data.tags["trial.number"] for c in children] == ["0", "1"]
    assert all(c.info.status == "FINISHED" and "cv_mean" in c.data.metrics for c in children)


@pytest.mark.slow
@needs_joblib
def test_local_parallel_sweep(tmp_path, store_template):
    uri = two_trial_sweep(store_template, tmp_path, "hydra/launcher=local_parallel")
    assert_two_finished_trials(uri)
    first, second = (c.info for c in sweep_runs(uri)[1])
    assert second.start_time < first.end_time, "the two trials of the batch should run at the same time"


@pytest.mark.slow
@needs_ray
def test_ray_local_sweep(tmp_path, store_template):
    """Starts a local Ray (about 20-30 s on 2 cores), runs both trials as Ray tasks, shuts it down."""
    uri = two_trial_sweep(store_template, tmp_path, "hydra/launcher=ray_cluster")
    assert_two_finished_trials(uri)


@pytest.mark.slow
@needs_submitit
def test_submitit_local_sweep(tmp_path, store_template):
    """No SLURM here: the plugin's submitit_local runs the same pickled jobs as local processes."""
    uri = two_trial_sweep(store_template, tmp_path, "hydra/launcher=submitit_local",
                          "hydra.launcher.timeout_min=10")
    assert_two_finished_trials(uri)
