"""Launcher presets in ``conf/hydra/launcher/``: they compose where their plugin is installed, and sweep.

CI installs ``.[dev]`` only, which brings the joblib launcher: the Ray and SLURM (submitit) checks skip
there with their reason and run where the ``ray`` / ``slurm`` extras are installed (docs/launchers.md).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tests.conftest import ROOT, SWEEP_FAST, fresh_store, mlflow_runs, run_train, sweep_runs

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
# a test on the local Ray cluster runs in the one process of its group in a parallel run (`make test`):
# ``ray stop`` ends every cluster of the machine, another worker's too
one_ray_cluster_at_a_time = pytest.mark.xdist_group("ray")
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


@pytest.fixture
def ray_cluster(tmp_path, store_template):
    """A real local Ray cluster (``ray start --head`` on 127.0.0.1), started with an environment of its own:
    its workers see MLFLOW_TRACKING_URI pointing at another store than the sweeper's. Stopped afterwards."""
    import os
    import subprocess
    import sys

    from tests.conftest import _free_port

    other = fresh_store(store_template, tmp_path / "cluster-store")
    ray = str(Path(sys.executable).parent / "ray")
    port = _free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": other, "RAY_USAGE_STATS_ENABLED": "0"}
    start = subprocess.run([ray, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=2",
                            "--include-dashboard=false", "--disable-usage-stats"], env=env, capture_output=True,
                           text=True, timeout=180)
    assert start.returncode == 0, start.stdout[-2000:] + start.stderr[-2000:]
    try:
        yield f"127.0.0.1:{port}", other
    finally:
        subprocess.run([ray, "stop", "--force"], capture_output=True, timeout=120)


@pytest.mark.slow
@needs_ray
@one_ray_cluster_at_a_time
def test_ray_cluster_sweep_lands_in_the_sweepers_store(tmp_path, ray_cluster, mlflow_server):
    """The cluster's workers have another MLFLOW_TRACKING_URI than the sweeper's shell; every trial still lands
    in the sweeper's store (a real ``mlflow server``), as a child of one parent, because the sweeper decides the
    store once and passes it in each trial's overrides."""
    from mlflow.tracking import MlflowClient

    address, other = ray_cluster
    experiment = f"ray-{tmp_path.name}"
    proc = run_train(["-m", *SWEEP_FAST, f"hydra.sweep.dir={tmp_path / 'sweep'}", f"tracking.experiment={experiment}",
                      "hydra/launcher=ray_cluster", f"hydra.launcher.ray.init.address={address}",
                      "hydra.sweeper.n_trials=4", "hydra.sweeper.n_jobs=2",
                      "optimizer.lr=tag(log, interval(1e-3, 1e-1))"],
                     cwd=tmp_path, env={"MLFLOW_TRACKING_URI": mlflow_server}, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    client = MlflowClient(mlflow_server)
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id])
    [parent] = [r for r in runs if "sweep.strategy" in r.data.tags]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert parent.info.status == "FINISHED" and len(runs) == 5
    assert sorted(int(c.data.tags["trial.number"]) for c in children) == [0, 1, 2, 3]
    assert all(c.info.status == "FINISHED" and "cv_mean" in c.data.metrics for c in children)
    assert mlflow_runs(other) == []  # nothing went to the store of the cluster's environment


@pytest.mark.slow
@needs_submitit
def test_submitit_local_sweep(tmp_path, store_template):
    """No SLURM here: the plugin's submitit_local runs the same pickled jobs as local processes."""
    uri = two_trial_sweep(store_template, tmp_path, "hydra/launcher=submitit_local",
                          "hydra.launcher.timeout_min=10")
    assert_two_finished_trials(uri)


@pytest.mark.slow
@needs_submitit
def test_slurm_preset_submits_the_expected_job_script(tmp_path, store_template, monkeypatch, capfd):
    """No SLURM here: submitit is told that ``srun`` exists and its submission is caught where it would call
    ``sbatch``; the script it wrote for the sweep's first batch is what a SLURM cluster would receive."""
    import sys

    import submitit.slurm.slurm as slurm

    from tests.conftest import run_train_in_process

    scripts: list[str] = []

    class Submitted(Exception):
        pass

    def capture(self, command):
        scripts.append(self._make_submission_file_text(command, "uid"))
        raise Submitted

    monkeypatch.setattr(slurm.SlurmExecutor, "affinity", classmethod(lambda cls: 2))
    monkeypatch.setattr(slurm.SlurmExecutor, "_submit_command", capture)
    uri = fresh_store(store_template, tmp_path / "store")
    code, out = run_train_in_process(["-m", *SWEEP_FAST, f"tracking.uri={uri}", f"hydra.sweep.dir={tmp_path / 'sweep'}",
                                      "hydra/launcher=slurm", "hydra.launcher.partition=cpu",
                                      "hydra.launcher.gpus_per_node=1", "hydra.launcher.timeout_min=30",
                                      "hydra.sweeper.n_trials=3", "hydra.sweeper.n_jobs=3",
                                      "hydra.sweeper.batch_size=3",  # one launch of 3: one SLURM job array
                                      "optimizer.lr=tag(log, interval(1e-3, 1e-1))"], capfd)
    assert code != 0 and len(scripts) == 1, out[-3000:]
    script = scripts[0]
    for line in ("#SBATCH --partition=cpu", "#SBATCH --time=30", "#SBATCH --cpus-per-task=1",
                 "#SBATCH --gpus-per-node=1", "#SBATCH --mem=4GB", "#SBATCH --array=0-2%3",
                 "#SBATCH --signal=USR2@120"):
        assert line in script.splitlines(), (line, script)
    activate = f"source {Path(sys.prefix) / 'bin' / 'activate'}"
    lines = script.splitlines()
    srun = next(i for i, line in enumerate(lines) if line.startswith("srun"))
    assert activate in lines[:srun], script  # the environment is activated before the trial starts
    assert sys.executable in lines[srun] and "submitit.core._submit" in lines[srun]


def test_make_test_installs_the_ray_and_slurm_extras():
    """``make test`` installs them (see the Makefile): in its venv, the Ray and SLURM tests must not skip."""
    import sys

    if not (Path(sys.prefix) / ".installed-test").exists():
        pytest.skip("not the venv `make test` installs")
    assert HAS_RAY and HAS_SUBMITIT
